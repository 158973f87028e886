"""A job's life from the claimed file to `submitted` (or a final state), run in worker threads.

Every step commits its state to the journal before the step's side effect can be observed elsewhere:
`uploading` before any upload, `submitting` before SendfaxEx_2, so a crash anywhere leaves a state from
which the restart knows exactly what may have happened (see `recovery.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from faxdropd import crashpoints
from faxdropd.config import FolderConfig
from faxdropd.document import preflight, routing
from faxdropd.errors import (
    AccountError,
    JobTaken,
    OutcomeUnknown,
    PermanentError,
    Rejected,
    TransientError,
)
from faxdropd.files import filing
from faxdropd.interfax import upload
from faxdropd.interfax.faxfields import sendfax_fields
from faxdropd.jobs import admission as policy
from faxdropd.jobs import jitter, settle
from faxdropd.jobs import late_originals as twins
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import UNSENT, Job, Outcome, State
from faxdropd.jobs.runtime import Runtime
from faxdropd.jobs.sending import SendSlots, Slot

log = structlog.get_logger("faxdropd.jobs.pipeline")

# How long an account-wide failure pauses sending before the next attempt probes again.
PAUSE_SECONDS = {-1876: 3600.0, -1003: 600.0, -2003: 600.0}
DEFAULT_PAUSE = 300.0
# A document whose processing crashed the daemon this many times is quarantined rather than retried.
MAX_PROCESSING_STARTS = 3


class Pipeline:
    def __init__(self, rt: Runtime, finisher: Finisher) -> None:
        self.rt = rt
        self.finisher = finisher
        self._admission = threading.Lock()
        self.slots = SendSlots(rt.config.workers)
        self.rng = random.Random()  # back-off jitter; a test seeds its own

    # -- processing (worker threads) ------------------------------------------------------------------

    def process(self, job: Job, folder: FolderConfig) -> None:
        with structlog.contextvars.bound_contextvars(
            job_id=job.id, folder=job.folder, file=job.name, reference=job.reference
        ):
            try:
                self._process(job, folder)
            except JobTaken:
                # Another instance owns it now (our lease ran out): drop it, and leave its files to the new owner.
                log.warning("lease.lost", reason="taken over by another instance; not touched again here")
            except Exception as exc:
                # The share under the document died mid-read (EIO, ENOTCONN) or went away: no bug and no verdict
                # on the document. It waits for the share however long that takes; retry.lifetime bounds sending.
                outage = filing.out_of_reach(Path(job.work_path), exc)
                what = "hot folder unavailable" if outage else "internal error"
                if not outage:  # a bug must not kill the worker or lose the job: it waits for a retry
                    log.exception("job.crashed", error=str(exc))
                # Only a job that cannot have reached InterFAX may be deferred (= sent again); past
                # `submitting` the tracker/refile pass own it (reliability suite: no duplicate on errors).
                fresh = self.rt.journal.get(job.id) or job
                if fresh.state is State.SUBMITTING:
                    self.rt.journal.transition(
                        fresh, State.UNKNOWN, f"{what} while submitting", reason=f"{what}: {exc}"
                    )
                elif fresh.outcome is None and fresh.state in UNSENT:
                    self.retry_later(fresh, f"{what}: {exc}", give_up=not outage)

    def _process(self, job: Job, folder: FolderConfig) -> None:
        jr = self.rt.journal
        # Each start is journaled before the document is parsed, so a file that kills the daemon while
        # being parsed is counted even though the process never returns to record the crash. Only a crash
        # is counted: the mark need not survive a power cut, so it costs no fsync (Journal.mark).
        starts = int(job.delivery.get("processing_starts", 0)) + 1
        if starts > MAX_PROCESSING_STARTS:
            reason = f"quarantined: processing stopped the daemon {starts - 1} times"
            self.finisher.finish(job, Outcome.REJECTED, None, reason)
            return
        job = jr.mark(job, "processing", delivery={**job.delivery, "processing_starts": starts})
        waiting = settle.still_changing(Path(job.work_path), job.delivery, folder.incomplete_grace)
        if waiting is not None:  # kept claimed, re-checked after the retry backoff (jobs/settle.py)
            self.retry_later(dataclasses.replace(job, delivery={**job.delivery, "claimed_as": waiting[1]}), waiting[0])
            return
        with contextlib.ExitStack() as stack:
            # What is known of the document when a check refuses it goes into its receipt.
            facts: dict[str, Any] = {}
            try:
                checked, decided, parts = self._prepare(job, folder, stack, facts)
            except Rejected as exc:
                self.finisher.finish(job, Outcome.REJECTED, None, exc.reason, **facts)
                return
            slot = self.slots.take()
            if slot is None:  # stopping: this start did not end in a crash, so it is not counted as one
                jr.update(job, "stopped before sending", delivery={**job.delivery, "processing_starts": starts - 1})
                return
            stack.callback(slot.give_back)
            # Check, then reserve, under one lock: the duplicate and hourly checks count the journal rows the
            # UPLOADING transition creates, so two workers must not both pass on the same count.
            with self._admission, policy.across_instances(jr):
                now = time.time()
                job = self._on_purpose(job, checked.sha256)
                if self._held(job, folder, checked, decided.numbers, facts, now):
                    return
                fields = sendfax_fields(
                    decided.options,
                    numbers=decided.numbers,
                    document_name=job.name,
                    folder_name=folder.name,
                    reference=job.reference,
                    now=datetime.now(UTC),
                )
                # An inline fax has no upload step that could fail on its own: going straight to SUBMITTING
                # saves one fsync'd commit per fax, and a crash there is settled by reconciliation anyway.
                inline = upload.is_inline(parts, self.rt.config.interfax.inline_max_bytes)
                job = jr.transition(
                    job,
                    State.SUBMITTING if inline else State.UPLOADING,
                    "inline" if inline else "upload",
                    submitted_at=now,
                    options=_jsonable(fields),
                    **facts,
                )
            crashpoints.hit("after_uploading", job.name)
            log.info("job.uploading", size=checked.size, pages=checked.pages, numbers=decided.numbers)
            self._send(job, parts, fields, slot)

    def _prepare(
        self, job: Job, folder: FolderConfig, stack: contextlib.ExitStack, facts: dict[str, Any]
    ) -> tuple[preflight.Checked, routing.Route, list[upload.Part]]:
        """Open, check and route the document (and its cover page); every refusal raises Rejected.

        Fills `facts` with what the journal learns of the job as it goes, so a refusal can record it too.
        """
        limits = self.rt.config.limits
        checked = stack.enter_context(
            preflight.open_document(
                Path(job.work_path), Path(job.hot) / filing.WORK_DIR, max_pages=limits.pages_per_fax
            )
        )
        facts.update(sha256=checked.sha256, size=checked.size, pages=checked.pages, file_type=checked.file_type)
        sidecar = routing.load_sidecar(Path(job.sidecar_path)) if job.sidecar_path else None
        decided = routing.route(job.name, folder, sidecar, notify_domains=self.rt.config.notify.allow_domains)
        facts["numbers"] = decided.numbers
        parts = [self._part(checked)]
        problem = self._cover(decided.options.cover_page, job, checked, parts, stack)
        if problem is not None:
            raise Rejected(problem)
        return checked, decided, parts

    def _part(self, checked: preflight.Checked) -> upload.Part:
        return upload.Part(file_type=checked.file_type, size=checked.size, chunks=checked.read_chunks)

    def _cover(
        self,
        cover: Path | None,
        job: Job,
        checked: preflight.Checked,
        parts: list[upload.Part],
        stack: contextlib.ExitStack,
    ) -> str | None:
        """Open the cover page as the fax's first document; a problem is the rejection's sentence."""
        if cover is None:
            return None
        limit = self.rt.config.limits.pages_per_fax
        opened = policy.open_cover(cover, Path(job.hot), checked.pages, limit, stack)
        if isinstance(opened, str):
            return opened
        parts.insert(0, self._part(opened))
        return None

    def _on_purpose(self, job: Job, sha256: str) -> Job:
        """`faxdropd retry` set this content's receipt aside: consuming it makes this one send deliberate.

        Consumed whatever the duplicate check would say, so one retry authorises exactly one send and a later
        plain re-drop of the same content is judged as a duplicate again.
        """
        if job.on_purpose:
            return job
        consumed = filing.consume_retried(Path(job.hot), sha256, job.id)
        if consumed is None:
            return job
        log.info("job.retried_on_purpose", receipt=consumed.name)
        return self.rt.journal.update(job, f"retried on purpose ({consumed.name})", on_purpose=1)

    def _held(
        self,
        job: Job,
        folder: FolderConfig,
        checked: preflight.Checked,
        numbers: list[str],
        facts: dict[str, Any],
        now: float,
    ) -> bool:
        """Apply the sending policy; True when the job was filed as a duplicate or deferred (not sent now)."""
        if not job.on_purpose and self._duplicate(job, checked.sha256, numbers, now):
            self.finisher.finish(job, Outcome.FAILED, None, "duplicate", checked=checked, **facts)
            return True
        wait_until = self._hourly_wait(folder, now)
        if wait_until is not None:
            self.rt.journal.defer(job, wait_until, "held back by limits.faxes_per_hour", "hourly cap", **facts)
            log.info("job.deferred", reason="faxes_per_hour", until=wait_until)
            return True
        if self.rt.pause.active():
            until = jitter.after_pause(self.rt.pause.until, now, self.rng)
            self.rt.journal.defer(job, until, self.rt.pause.reason, "paused", **facts)
            return True
        return False

    def _duplicate(self, job: Job, sha256: str, numbers: list[str], now: float) -> bool:
        window = self.rt.config.limits.duplicate_window
        return policy.duplicate_of(self.rt.journal, sha256, numbers, window, now, exclude=job.id) is not None

    def _hourly_wait(self, folder: FolderConfig, now: float) -> float | None:
        cap = self.rt.config.limits.faxes_per_hour
        return policy.hourly_wait(self.rt.journal, cap, folder.name, folder.faxes_per_hour, now)

    def _send(self, job: Job, parts: list[upload.Part], fields: dict[str, Any], slot: Slot) -> None:
        jr = self.rt.journal
        cfg = self.rt.config.interfax
        limits = upload.UploadLimits(chunk_size=cfg.chunk_size, inline_max_bytes=cfg.inline_max_bytes)

        def uploaded(session_id: str | None) -> None:
            if self.rt.leases is not None:
                self.rt.leases.check()  # Fenced: our leases may be running out; no SendfaxEx_2 now
            if job.state is not State.SUBMITTING:
                jr.transition(job, State.SUBMITTING, f"session {session_id}" if session_id else "inline")
            crashpoints.hit("before_send", job.name)

        started = time.monotonic()
        try:
            try:
                tid = upload.submit(self.rt.clients.client(), parts, fields, limits, on_uploaded=uploaded)
            finally:
                slot.give_back()  # InterFAX has answered (or failed to): the next checked fax may go
        except OutcomeUnknown as exc:
            jr.transition(job, State.UNKNOWN, exc.sentence, reason=str(exc), attempts=job.attempts + 1)
            log.warning("job.unknown", error=str(exc))
            return
        except AccountError as exc:
            self.rt.pause.set(str(exc), PAUSE_SECONDS.get(exc.code or 0, DEFAULT_PAUSE))
            jr.defer(job, jitter.after_pause(self.rt.pause.until, time.time(), self.rng), str(exc), "account")
            return
        except PermanentError as exc:
            self.finisher.finish(job, Outcome.FAILED, None, exc.sentence, code=exc.code)
            return
        except TransientError as exc:
            self.retry_later(job, str(exc))
            return
        crashpoints.hit("after_send", job.name)
        self.rt.pause.clear()
        self.rt.metrics.uploaded(sum(p.size for p in parts), time.monotonic() - started)
        sent: dict[str, Any] = {"transaction_ids": [tid], "attempts": job.attempts + 1, "submitted_at": time.time()}
        if twins.watching(job):
            sent["delivery"] = twins.pin(job.delivery, tid)
        if not self.rt.config.delivery.track:
            # Nothing is left to wait for: one commit records the transaction and the outcome together.
            crashpoints.hit("after_submitted", job.name)
            log.info("job.submitted", transaction_id=tid, numbers=job.numbers)
            self.finisher.finish(
                job, Outcome.ACCEPTED, None, "accepted by InterFAX; delivery is not tracked", later=True, **sent
            )
            return
        # Not waited for on disk (it outlives a crash of the daemon, and the outcome's commit makes it durable):
        # a power cut that loses it leaves the job `submitting`, which the restart settles by looking the fax
        # up by its reference (recovery.py), never by sending it again.
        job = jr.mark(job, f"transaction {tid}", to=State.SUBMITTED, **sent)
        self.rt.submitted.set()
        crashpoints.hit("after_submitted", job.name)
        log.info("job.submitted", transaction_id=tid, numbers=job.numbers)

    def retry_later(self, job: Job, reason: str, *, give_up: bool = True) -> None:
        """Transient trouble: retry later with exponential backoff (±20% jitter: jobs.jitter), or give up after
        the retry lifetime (never with ``give_up=False``: a share outage is not the fax's failure)."""
        retry = self.rt.config.retry
        attempts = job.attempts + 1
        now = time.time()
        if give_up and now - job.created_at > retry.lifetime:
            self.finisher.finish(job, Outcome.FAILED, None, f"gave up after {attempts} attempts: {reason}")
            return
        delay = jitter.backoff(attempts, retry.initial, retry.factor, retry.cap, self.rng)
        self.rt.journal.defer(job, now + delay, reason, attempts=attempts)
        log.info("job.deferred", reason=reason, retry_in_s=round(delay, 1), attempts=attempts)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}
