"""A job's life from the claimed file to `submitted` (or a final state), run in worker threads.

Every step commits its state to the journal before the step's side effect can be observed elsewhere:
`uploading` before any upload, `submitting` before SendfaxEx_2, so a crash anywhere leaves a state from
which the restart knows exactly what may have happened (see `recovery.py`).
"""

from __future__ import annotations

import contextlib
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
    InterfaxError,
    OutcomeUnknown,
    PermanentError,
    TransientError,
)
from faxdropd.files import filing
from faxdropd.interfax import upload
from faxdropd.interfax.faxfields import sendfax_fields
from faxdropd.jobs import admission as policy
from faxdropd.jobs import late_originals as twins
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Job, State
from faxdropd.jobs.runtime import Runtime

log = structlog.get_logger("faxdropd.jobs.pipeline")

# How long an account-wide failure pauses sending before the next attempt probes again.
PAUSE_SECONDS = {-1876: 3600.0, -1003: 600.0, -2003: 600.0}
DEFAULT_PAUSE = 300.0
# A document whose processing crashed the daemon this many times is quarantined rather than retried.
MAX_PROCESSING_STARTS = 3


class Pipeline:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.finisher = Finisher(rt)
        self._admission = threading.Lock()

    # -- processing (worker threads) ------------------------------------------------------------------

    def process(self, job: Job, folder: FolderConfig) -> None:
        with structlog.contextvars.bound_contextvars(
            job_id=job.id, folder=job.folder, file=job.name, reference=job.reference
        ):
            try:
                self._process(job, folder)
            except Exception as exc:
                # A bug must not kill the worker or lose the job: it waits for a retry with backoff.
                log.exception("job.crashed", error=str(exc))
                # Only a job that cannot have reached InterFAX may be deferred (= sent again); past
                # `submitting` the tracker/refile pass own it (reliability suite: no duplicate on errors).
                fresh = self.rt.journal.get(job.id) or job
                if fresh.state is State.SUBMITTING:
                    self.rt.journal.transition(
                        fresh, State.UNKNOWN, "internal error while submitting", reason=f"internal error: {exc}"
                    )
                elif fresh.outcome is None and fresh.state in (State.CLAIMED, State.UPLOADING, State.DEFERRED):
                    self._defer(fresh, f"internal error: {exc}")

    def _process(self, job: Job, folder: FolderConfig) -> None:
        jr = self.rt.journal
        # Each start is journaled before the document is parsed, so a file that kills the daemon while
        # being parsed is counted even though the process never returns to record the crash.
        starts = int(job.delivery.get("processing_starts", 0)) + 1
        if starts > MAX_PROCESSING_STARTS:
            reason = f"quarantined: processing stopped the daemon {starts - 1} times"
            self.finisher.finish(job, "rejected", None, reason)
            return
        job = jr.transition(job, job.state, "processing", delivery={**job.delivery, "processing_starts": starts})
        limits = self.rt.config.limits
        try:
            checked = preflight.open_document(
                Path(job.work_path), Path(job.hot) / filing.WORK_DIR, max_pages=limits.pages_per_fax
            )
        except preflight.Rejected as exc:
            self.finisher.finish(job, "rejected", None, exc.reason)
            return
        with checked, contextlib.ExitStack() as stack:
            sidecar: dict[str, Any] | None = None
            if job.sidecar_path:
                loaded = routing.load_sidecar(Path(job.sidecar_path))
                if isinstance(loaded, routing.Rejection):
                    self.finisher.finish(job, "rejected", None, loaded.reason, checked=checked)
                    return
                sidecar = loaded
            decided = routing.route(job.name, folder, sidecar)
            if isinstance(decided, routing.Rejection):
                self.finisher.finish(job, "rejected", None, decided.reason, checked=checked)
                return
            facts: dict[str, Any] = {
                "sha256": checked.sha256,
                "size": checked.size,
                "pages": checked.pages,
                "file_type": checked.file_type,
                "numbers": decided.numbers,
            }
            parts = [self._part(checked)]
            problem = self._cover(decided.options.cover_page, job, checked, parts, stack)
            if problem is not None:
                self.finisher.finish(job, "rejected", None, problem, checked=checked, **facts)
                return
            # Check, then reserve, under one lock: the duplicate and hourly checks count the journal rows the
            # UPLOADING transition creates, so two workers must not both pass on the same count.
            with self._admission:
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
                inline = sum(p.size for p in parts) <= self.rt.config.interfax.inline_max_bytes
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
            self._send(job, parts, fields, folder)

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
        hot = Path(job.hot).resolve()
        # A sidecar's cover page was proven inside the hot folder; opening it against that folder (not its
        # own parent) keeps a directory swapped for a symlink since then from leading outside.
        boundary = hot if cover.is_relative_to(hot) else cover.parent
        limit = self.rt.config.limits.pages_per_fax
        try:
            cover_doc = stack.enter_context(preflight.open_document(cover, boundary, max_pages=limit))
        except preflight.Rejected as exc:
            return f"cover page {cover.name}: {exc.reason}"
        except FileNotFoundError:
            return f"cover page {cover} does not exist"
        total = (cover_doc.pages or 1) + (checked.pages or 1)
        if cover_doc.pages is not None and checked.pages is not None and total > limit:
            return f"{total} pages with the cover page; limits.pages_per_fax is {limit}"
        parts.insert(0, self._part(cover_doc))
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
        return self.rt.journal.transition(job, job.state, f"retried on purpose ({consumed.name})", on_purpose=1)

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
            self.finisher.finish(job, "failed", None, "duplicate", checked=checked, **facts)
            return True
        # A policy hold is a clean end of processing: the crash counter starts over, or a job held back
        # for a few hours would be quarantined as if it had crashed the daemon.
        clean = {**job.delivery, "processing_starts": 0}
        wait_until = self._hourly_wait(folder, now)
        if wait_until is not None:
            self.rt.journal.transition(
                job,
                State.DEFERRED,
                "hourly cap",
                next_attempt_at=wait_until,
                reason="held back by limits.faxes_per_hour",
                delivery=clean,
                **facts,
            )
            log.info("job.deferred", reason="faxes_per_hour", until=wait_until)
            return True
        if self.rt.pause.active():
            self.rt.journal.transition(
                job,
                State.DEFERRED,
                "paused",
                next_attempt_at=self.rt.pause.until,
                reason=self.rt.pause.reason,
                delivery=clean,
                **facts,
            )
            return True
        return False

    def _duplicate(self, job: Job, sha256: str, numbers: list[str], now: float) -> bool:
        """Same content to an overlapping number within the window, sent or about to be (journal.sends_of
        counts uploading, submitted, delivered and deferred jobs)."""
        window = self.rt.config.limits.duplicate_window
        if not window:
            return False
        earlier = self.rt.journal.sends_of(sha256, now - window, exclude=job.id)
        return any(set(numbers) & set(other.numbers) for other in earlier)

    def _hourly_wait(self, folder: FolderConfig, now: float) -> float | None:
        cap = self.rt.config.limits.faxes_per_hour
        # No cap, no query: reading every submission of the last hour per fax grows with the backlog.
        waits = (
            []
            if cap is None
            else [
                policy.hourly_decision(
                    sent_last_hour=len(times), cap=cap, now=now, oldest_in_window=times[0] if times else None
                )
                for times in [self.rt.journal.submitted_since(now - 3600)]
            ]
        )
        if folder.faxes_per_hour is not None:
            times = self.rt.journal.submitted_since(now - 3600, folder=folder.name)
            waits.append(
                policy.hourly_decision(
                    sent_last_hour=len(times),
                    cap=folder.faxes_per_hour,
                    now=now,
                    oldest_in_window=times[0] if times else None,
                )
            )
        found = [w for w in waits if w is not None]
        return max(found) if found else None

    def _send(self, job: Job, parts: list[upload.Part], fields: dict[str, Any], folder: FolderConfig) -> None:
        jr = self.rt.journal
        cfg = self.rt.config.interfax
        limits = upload.UploadLimits(chunk_size=cfg.chunk_size, inline_max_bytes=cfg.inline_max_bytes)

        def uploaded(session_id: str | None) -> None:
            if job.state is not State.SUBMITTING:
                jr.transition(job, State.SUBMITTING, f"session {session_id}" if session_id else "inline")
            crashpoints.hit("before_send", job.name)

        started = time.monotonic()
        try:
            tid = upload.submit(self.rt.clients.client(), parts, fields, limits, on_uploaded=uploaded)
        except OutcomeUnknown as exc:
            jr.transition(job, State.UNKNOWN, exc.sentence, reason=str(exc), attempts=job.attempts + 1)
            log.warning("job.unknown", error=str(exc))
            return
        except AccountError as exc:
            self.rt.pause.set(str(exc), PAUSE_SECONDS.get(exc.code or 0, DEFAULT_PAUSE))
            jr.transition(
                job, State.DEFERRED, "account", next_attempt_at=self.rt.pause.until, reason=str(exc), submitted_at=None
            )
            return
        except PermanentError as exc:
            self.finisher.finish(job, "failed", None, exc.sentence, code=exc.code)
            return
        except TransientError as exc:
            self._defer(job, str(exc))
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
            self.finisher.finish(job, "accepted", None, "accepted by InterFAX; delivery is not tracked", **sent)
            return
        job = jr.transition(job, State.SUBMITTED, f"transaction {tid}", **sent)
        crashpoints.hit("after_submitted", job.name)
        log.info("job.submitted", transaction_id=tid, numbers=job.numbers)

    def _defer(self, job: Job, reason: str) -> None:
        """Transient trouble: retry later with exponential backoff, or give up after the retry lifetime."""
        retry = self.rt.config.retry
        attempts = job.attempts + 1
        now = time.time()
        if now - job.created_at > retry.lifetime:
            self.finisher.finish(job, "failed", None, f"gave up after {attempts} attempts: {reason}")
            return
        delay = min(retry.cap, retry.initial * retry.factor ** (attempts - 1))
        # The daemon survived this attempt: reset the crash counter, or three transient errors would
        # quarantine the document as if it had stopped the daemon three times.
        self.rt.journal.transition(
            job,
            State.DEFERRED,
            reason,
            attempts=attempts,
            next_attempt_at=now + delay,
            reason=reason,
            submitted_at=None,
            delivery={**job.delivery, "processing_starts": 0},
        )
        log.info("job.deferred", reason=reason, retry_in_s=round(delay, 1), attempts=attempts)


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()}


def error_text(exc: InterfaxError) -> str:
    return exc.sentence
