"""Following faxes to their final status, and settling submissions whose outcome is unknown.

Both use InterFAX's status queries, which are limited to 6 a minute for the whole account, so they share
one budget: reconciliation first (a job is stuck until it is settled), then delivery polls batched 100
transaction ids to a FaxQuery IN.
"""

from __future__ import annotations

import collections
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from faxdropd import codes
from faxdropd.errors import AccountError, InterfaxError, RateLimited
from faxdropd.finish import Finisher
from faxdropd.journal import Job, State
from faxdropd.runtime import Runtime
from faxdropd.soap import MAX_QUERY_ITEMS, FaxItem

log = structlog.get_logger("faxdropd.tracker")

RATE_LIMIT_BACKOFF = 20.0
OUT_OF_CREDIT_PAUSE = 600.0


class QueryBudget:
    """A sliding window of our own status queries, a little wider than InterFAX's to absorb clock skew."""

    def __init__(self, per_minute: int, window: float = 61.0) -> None:
        self.per_minute = per_minute
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._blocked_until = 0.0

    def take(self, now: float) -> bool:
        if now < self._blocked_until:
            return False
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()
        if len(self._times) >= self.per_minute:
            return False
        self._times.append(now)
        return True

    def back_off(self, now: float, seconds: float) -> None:
        self._blocked_until = now + seconds


def _item_facts(item: FaxItem) -> dict[str, Any]:
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
        "completed_at": item.completion_time.isoformat() if item.completion_time else None,
    }


class Tracker:
    def __init__(self, rt: Runtime, finisher: Finisher) -> None:
        self.rt = rt
        self.finisher = finisher
        self.budget = QueryBudget(rt.config.delivery.query_limit_per_minute)
        self._last_poll: dict[str, float] = {}

    def run(self, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            try:
                self.step(time.monotonic())
            except Exception:
                log.exception("tracker.crashed")

    def step(self, now: float) -> None:
        client = self.rt.clients.client()
        try:
            for job in self.rt.journal.by_state(State.UNKNOWN):
                if time.time() - job.updated_at < self.rt.config.delivery.reconcile_grace:
                    continue
                if not self.budget.take(now):
                    return
                self._reconcile(job, self._lookup(client, job))
            if not self.rt.config.delivery.track:
                return
            self._poll(now, client)
        except RateLimited:
            log.warning("tracker.rate_limited", backoff_s=RATE_LIMIT_BACKOFF)
            self.budget.back_off(now, RATE_LIMIT_BACKOFF)
        except AccountError as exc:
            self.rt.pause.set(str(exc), 600.0)
        except InterfaxError as exc:
            log.warning("tracker.query_failed", error=str(exc))

    def _lookup(self, client: Any, job: Job) -> list[FaxItem]:
        # Like on the reference, not Equals on the subject: a resend on another day may carry another
        # {date} in its subject, but every attempt carries the same reference.
        items = client.query_reference(f"%{job.reference}%", self._since(job), like=True)
        return [i for i in items if job.reference in i.subject]

    def _since(self, job: Job) -> datetime:
        return datetime.fromtimestamp(job.created_at, UTC) - timedelta(hours=1)

    def _reconcile(self, job: Job, items: list[FaxItem]) -> None:
        mine = items
        if mine:
            tids = sorted({i.transaction_id for i in mine})
            job = self.rt.journal.transition(job, State.SUBMITTED, "reconciled: found", transaction_ids=tids)
            log.info("job.reconciled", job_id=job.id, reference=job.reference, found=True, transaction_ids=tids)
            self._apply(job, mine)
            return
        # InterFAX has no fax with this reference long after our request ended: the send never happened,
        # so sending again (same reference) cannot duplicate it.
        self.rt.journal.transition(job, State.DEFERRED, "reconciled: absent", next_attempt_at=time.time(),
                                   submitted_at=None, reason="previous send did not reach InterFAX")
        log.info("job.reconciled", job_id=job.id, reference=job.reference, found=False, action="resend")

    def _poll(self, now: float, client: Any) -> None:
        interval = self.rt.config.delivery.poll_interval
        due = [j for j in self.rt.journal.by_state(State.SUBMITTED)
               if now - self._last_poll.get(j.id, 0.0) >= interval and j.outcome is None]
        broadcasts = [j for j in due if len(j.numbers) > len(j.transaction_ids)]
        singles = [j for j in due if len(j.numbers) <= len(j.transaction_ids)]
        for job in broadcasts:
            if not self.budget.take(now):
                return
            self._last_poll[job.id] = now
            self._apply(job, self._lookup(client, job))
        by_tid = {tid: job for job in singles for tid in job.transaction_ids}
        tids = sorted(by_tid)
        for start in range(0, len(tids), MAX_QUERY_ITEMS):
            if not self.budget.take(now):
                return
            batch = tids[start:start + MAX_QUERY_ITEMS]
            for tid in batch:
                self._last_poll[by_tid[tid].id] = now
            grouped: dict[str, list[FaxItem]] = {}
            for item in client.query_ids(batch):
                if item.transaction_id in by_tid:
                    grouped.setdefault(by_tid[item.transaction_id].id, []).append(item)
            for job_id, items in grouped.items():
                job = next(j for j in singles if j.id == job_id)
                self._apply(job, items)

    def _apply(self, job: Job, items: list[FaxItem]) -> None:
        known: dict[str, Any] = dict(job.delivery.get("items", {}))
        changed = False
        for item in items:
            facts = _item_facts(item)
            if known.get(str(item.transaction_id)) != facts:
                known[str(item.transaction_id)] = facts
                changed = True
            if item.status == codes.OUT_OF_CREDIT:
                self.rt.pause.set("InterFAX holds faxes: the account is out of credit", OUT_OF_CREDIT_PAUSE)
        if changed:
            tids = sorted({*job.transaction_ids, *(int(t) for t in known)})
            job = self.rt.journal.transition(job, job.state, "status", delivery={**job.delivery, "items": known},
                                             transaction_ids=tids)
        finals = [f for f in known.values() if f["status"] >= 0]
        if len(finals) < max(len(job.numbers), 1) or any(f["status"] < 0 for f in known.values()):
            return
        self._last_poll.pop(job.id, None)
        failed = [f for f in finals if f["status"] > 0]
        if failed:
            first = failed[0]
            reason = f"{first['number'] or 'a number'}: {first['meaning']} (status {first['status']})"
            self.finisher.finish(job, "failed", int(first["status"]), reason)
        else:
            self.finisher.finish(job, "delivered", 0, "delivered: every page confirmed by the receiving fax")
