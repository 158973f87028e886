"""Following faxes to their final status, and settling submissions whose outcome is unknown.

Both use InterFAX's status queries, which are limited to 6 a minute for the whole account, so they share
one budget: reconciliation first (a job is stuck until it is settled), then delivery polls batched 100
transaction ids to a FaxQuery IN, least recently polled first so no batch starves.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from faxdropd.errors import AccountError, InterfaxError, RateLimited
from faxdropd.interfax import codes
from faxdropd.interfax.client import MAX_QUERY_ITEMS, FaxItem
from faxdropd.interfax.ratelimit import QueryBudget
from faxdropd.jobs import late_originals as twins
from faxdropd.jobs.budgets import SharedBudget
from faxdropd.jobs.finish import Ending, Finisher
from faxdropd.jobs.journal import Job, Journal, Outcome, State
from faxdropd.jobs.pending import Change
from faxdropd.jobs.runtime import Runtime
from faxdropd.jobs.schema import DeliveryItem

log = structlog.get_logger("faxdropd.jobs.tracker")

OUT_OF_CREDIT_PAUSE = 600.0
ACCOUNT_PAUSE = 600.0
# Wide on both sides on purpose: a FaxQuery2 window that misses the fax because InterFAX's clock is ahead
# of ours (or reports in another zone) would read "absent" and cause the one thing we must never do: a resend.
LOOKUP_MARGIN = timedelta(days=1)
BUDGET_META = "status_queries"
SLOW_DOWN = 600.0  # seconds at the halved rate after a -1011


def _iso(moment: datetime | None) -> str | None:
    # An unfinished fax reports .NET's DateTime.MinValue (year 1) as its completion time.
    if moment is None or moment.year < 2000:
        return None
    # One format for every time in a receipt (finish._iso): UTC with a Z; InterFAX's zone-less times are UTC.
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item_facts(item: FaxItem) -> DeliveryItem:
    return {
        "transaction_id": item.transaction_id,
        "number": item.destination,
        "status": item.status,
        "meaning": codes.status_sentence(item.status),
        "pages_sent": item.pages_sent,
        "duration": item.duration,
        "remote_csid": item.remote_csid,
        "trials": item.trials,
        "cost": str(item.cost),
        "completed_at": _iso(item.completion_time),
    }


def poll_batches(jobs: list[Job], last_poll: dict[str, float]) -> list[list[int]]:
    """Transaction ids in FaxQuery IN batches, the least recently polled jobs first.

    Ordering by last poll (not by id) matters when the budget cannot cover every batch in one round: the
    batches left out this time lead the next round instead of being left out for ever.
    """
    ordered = sorted(jobs, key=lambda j: (last_poll.get(j.id, float("-inf")), j.created_at))
    tids = [tid for job in ordered for tid in job.transaction_ids]
    return [tids[i : i + MAX_QUERY_ITEMS] for i in range(0, len(tids), MAX_QUERY_ITEMS)]


class Tracker:
    def __init__(self, rt: Runtime, finisher: Finisher, clock: Callable[[], float] = time.monotonic) -> None:
        self.rt = rt
        self.finisher = finisher
        self.clock = clock
        # The limit is per account: each of `peers` hosts on it takes its share (README "Several hosts").
        # A shared journal counts every host's queries in one row (jobs/budgets.py): the whole limit is shared.
        limit = rt.config.delivery.query_limit_per_minute
        self.share = limit if rt.journal.shared else max(1, limit // rt.config.delivery.peers)
        self.budget = SharedBudget(rt.journal, self.share) if rt.journal.shared else QueryBudget(self.share)
        self._slow_until = 0.0
        self._last_poll: dict[str, float] = {}
        self._next_read = 0.0  # clock time of the next read of the submitted jobs (0: at the next step)
        self._submitted: dict[str, Job] = {}  # the submitted jobs as last read (by_state_cached keeps it current)
        self._restore_budget(rt.journal)

    def _restore_budget(self, journal: Journal) -> None:
        raw = journal.get_meta(BUDGET_META)
        try:
            stamps = [float(s) for s in json.loads(raw)] if raw else []
        except (ValueError, TypeError):
            stamps = []
        self.budget.load(stamps, self.clock(), time.time())

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            try:
                self.step()
            except Exception:
                log.exception("tracker.crashed")

    def step(self) -> None:
        if self._slow_until and self.clock() >= self._slow_until:
            self._slow_until, self.budget.per_minute = 0.0, self.share
            log.info("tracker.rate_restored", per_minute=self.share)
        if self.budget.free_at(self.clock()) > self.clock():
            # Every query below needs the budget: while it is spent, reading the unsettled jobs (hundreds
            # of rows, twice a second) would only find that out again.
            return
        client = self.rt.clients.client()
        try:
            for job in self.rt.journal.by_state(State.UNKNOWN):
                if time.time() - job.updated_at < self.rt.config.delivery.reconcile_grace:
                    continue
                items = self._ask(functools.partial(self._lookup, client, job))
                if items is None:
                    return
                self._reconcile(job, items)
            if self.rt.config.delivery.track:
                self._poll(client)
        except RateLimited:
            # Someone else queries on this account, or a previous process did: wait out a whole window.
            # A -1011 is never a job's failure. Adaptive: halve our rate for a while, since peers on the
            # account (more than delivery.peers says, or other tools) use what we thought was ours.
            self.budget.per_minute = max(1, self.budget.per_minute // 2)
            self._slow_until = self.clock() + SLOW_DOWN
            log.warning("tracker.rate_limited", backoff_s=self.budget.window, per_minute=self.budget.per_minute)
            self.budget.back_off(self.clock(), self.budget.window)
        except AccountError as exc:
            self.rt.pause.set(str(exc), ACCOUNT_PAUSE)
        except InterfaxError as exc:
            log.warning("tracker.query_failed", error=str(exc))

    def _ask(self, query: Callable[[], list[FaxItem]]) -> list[FaxItem] | None:
        """Run one status query within the budget; None when the budget is spent for now."""
        if not self.budget.take(self.clock()):
            return None
        try:
            return query()
        finally:
            # A query that failed may still have been counted by InterFAX, so it is counted here too.
            self.budget.settle(self.clock())
            self.rt.journal.set_meta(BUDGET_META, json.dumps(self.budget.dump(self.clock(), time.time())))

    def _lookup(self, client: Any, job: Job) -> list[FaxItem]:
        # Like on the reference, not Equals on the subject: a resend on another day may carry another
        # {date} in its subject, but every attempt carries the same reference.
        now = datetime.now(UTC)
        since = datetime.fromtimestamp(job.created_at, UTC) - LOOKUP_MARGIN
        # No brackets in the pattern: in SQL Server's LIKE "[...]" is a character class, not text.
        items = client.query_reference(f"%{job.reference}%", since, now + LOOKUP_MARGIN, like=True)
        return [i for i in items if job.reference in i.subject]

    def _reconcile(self, job: Job, items: list[FaxItem]) -> None:
        if items:
            tids = sorted({i.transaction_id for i in items})
            job = self.rt.journal.transition(job, State.SUBMITTED, "reconciled: found", transaction_ids=tids)
            log.info("job.reconciled", job_id=job.id, reference=job.reference, found=True, transaction_ids=tids)
            if not self.rt.config.delivery.track:
                self.finisher.finish(job, Outcome.ACCEPTED, None, "accepted by InterFAX; delivery is not tracked")
                return
            self._apply(job, items)
            return
        # InterFAX has no fax with this reference a grace period after our request ended: the send never
        # happened, so sending again (same reference) cannot duplicate it. The processing counter restarts
        # because this pass ended normally; it exists to catch documents that crash the daemon.
        # The resent job is then tracked by its reference, so that a late original shows up (twins.py).
        self.rt.journal.defer(
            job,
            time.time(),
            "previous send did not reach InterFAX",
            "reconciled: absent",
            delivery=twins.mark_resend(job.delivery),
        )
        log.info("job.reconciled", job_id=job.id, reference=job.reference, found=False, action="resend")

    def _poll(self, client: Any) -> None:
        # Never poll faster than the budget refills: a burst of polls early in a fax's life would spend the
        # whole minute before the fax is final and leave nothing for reconciliation.
        interval = max(self.rt.config.delivery.poll_interval, self.budget.window / self.budget.per_minute)
        now = self.clock()
        if now < self._next_read and not self.rt.submitted.is_set():
            return  # nothing new was submitted and nothing known is due yet
        self.rt.submitted.clear()
        # Until a round completes, the next step reads again (a spent budget returns half-way through).
        self._next_read = 0.0
        wall = time.time()
        # InterFAX has not finished a fax the moment it accepted it: a new submission's first query waits an
        # interval from its submission. Asked at once, it was one more query of the account's 6 a minute and
        # one more commit (an interim "sending" status) for each fax.
        submitted = [j for j in self.rt.journal.by_state_cached(self._submitted, State.SUBMITTED) if j.outcome is None]
        first_due = {
            j.id: now + max(0.0, (j.submitted_at or 0.0) + interval - wall)
            for j in submitted
            if j.id not in self._last_poll
        }
        due = [
            j
            for j in submitted
            if (first_due[j.id] <= now if j.id in first_due else now - self._last_poll[j.id] >= interval)
        ]
        # A broadcast's first reply names only its first transaction; its reference finds them all, once.
        # A job resent after a proof of absence is always asked by reference: a late original carries it too.
        by_reference = [j for j in due if len(j.numbers) > len(j.transaction_ids) or twins.watching(j)]
        asked = {j.id for j in by_reference}
        singles = [j for j in due if j.id not in asked]
        for job in by_reference:
            items = self._ask(functools.partial(self._lookup, client, job))
            if items is None:
                return
            self._last_poll[job.id] = self.clock()
            if twins.watching(job):
                items, late = twins.split(job, items)
                records = twins.settle(client, job, late)
                if records != job.delivery.get(twins.TWINS, {}):
                    job = self.rt.journal.update(job, "late original", delivery={**job.delivery, twins.TWINS: records})
            self._apply(job, items)
        by_tid = {tid: job for job in singles for tid in job.transaction_ids}
        for batch in poll_batches(singles, self._last_poll):
            found = self._ask(functools.partial(client.query_ids, batch))
            if found is None:
                return
            polled = self.clock()
            grouped: dict[str, list[FaxItem]] = {}
            for tid in batch:
                self._last_poll[by_tid[tid].id] = polled
            for item in found:
                if item.transaction_id in by_tid:
                    grouped.setdefault(by_tid[item.transaction_id].id, []).append(item)
            jobs = {j.id: j for j in singles}
            self._settle([(jobs[job_id], items) for job_id, items in grouped.items()])
        # Jobs made `submitted` elsewhere (reconciliation, adoption, a restart) are found within an interval.
        firsts = [t for job_id, t in first_due.items() if job_id not in self._last_poll]
        self._next_read = min([*(t + interval for t in self._last_poll.values()), *firsts], default=now + interval)

    def _apply(self, job: Job, items: list[FaxItem]) -> None:
        self._settle([(job, items)])

    def _settle(self, found: list[tuple[Job, list[FaxItem]]]) -> None:
        """Record what a poll round learnt: changed interim statuses in one commit, the finished faxes filed as
        one batch (Finisher.finish_many), instead of a commit and a filing of its own for each fax."""
        interim: list[Change] = []
        endings: list[Ending] = []
        for job, items in found:
            verdict = self._verdict(job, items)
            if isinstance(verdict, Ending):
                endings.append(verdict)
            elif verdict is not None:
                interim.append(verdict)
        self.rt.journal.change_many(interim)
        if endings:
            self.finisher.finish_many(endings)

    def _verdict(self, job: Job, items: list[FaxItem]) -> Change | Ending | None:
        """The job's outcome when every number is final, else its changed interim status (None: unchanged)."""
        known: dict[str, DeliveryItem] = dict(job.delivery.get("items", {}))
        changed = False
        for item in items:
            facts = _item_facts(item)
            if known.get(str(item.transaction_id)) != facts:
                known[str(item.transaction_id)] = facts
                changed = True
            if item.status == codes.OUT_OF_CREDIT:
                # Held, not failed: InterFAX sends it once credit is added, so keep tracking and stop sending.
                self.rt.pause.set("InterFAX holds faxes: the account is out of credit", OUT_OF_CREDIT_PAUSE)
        status: dict[str, Any] = {}
        if changed:
            tids = sorted({*job.transaction_ids, *(int(t) for t in known)})
            status = {"delivery": {**job.delivery, "items": known}, "transaction_ids": tids}
        finals = [f for f in known.values() if f["status"] >= 0]
        if len(finals) < max(len(job.numbers), 1) or any(f["status"] < 0 for f in known.values()):
            return Change(job, None, "status", status) if status else None
        self._last_poll.pop(job.id, None)
        # The final status goes into the journal with the outcome, in the finisher's one commit: a separate
        # "status" commit first cost a fsync'd transaction per fax and changed nothing a crash could lose
        # (the next poll asks again).
        job = dataclasses.replace(job, **status)
        failed = [f for f in finals if f["status"] > 0]
        if failed:
            first = failed[0]
            reason = f"{first['number'] or 'a number'}: {first['meaning']} (status {first['status']})"
            if len(failed) < len(finals):
                reason += f"; {len(finals) - len(failed)} of {len(finals)} numbers delivered"
            return Ending(job, Outcome.FAILED, int(first["status"]), reason + twins.note(job), status)
        reason = "delivered: every page confirmed by the receiving fax" + twins.note(job)
        return Ending(job, Outcome.DELIVERED, 0, reason, status)
