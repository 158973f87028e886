"""Ending a job: record the outcome, file the document with its receipt, then mark the job final.

The outcome is committed before the file moves and the final state after, so a crash between the two is
finished by `refile()` on the next pass: the document is moved (or found already moved) and the job closed.
A filing that fails for any OS reason (disk full on the share, EIO) leaves the outcome committed and the
document in the work area; it never propagates into the pipeline, whose generic error path would otherwise
defer, and so resend, a job that InterFAX already has.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import structlog

from faxdropd import crashpoints
from faxdropd.config.model import FAILED_DIR, SENT_DIR
from faxdropd.document import preflight
from faxdropd.files import archive, filing, fsutil, workarea
from faxdropd.jobs import late_originals as twins
from faxdropd.jobs import notices
from faxdropd.jobs.journal import FINAL, Job, Outcome
from faxdropd.jobs.pending import Change
from faxdropd.jobs.runtime import Runtime

log = structlog.get_logger("faxdropd.jobs.finish")

# The log event that announces a filed job, by outcome: a fax that went out is progress (info), one that did
# not is a document a person has to look at (warning).
_EVENT = {
    Outcome.DELIVERED: "job.delivered",
    Outcome.ACCEPTED: "job.delivered",
}
_NOT_SENT_EVENT = {
    Outcome.FAILED: "job.failed",
    Outcome.REJECTED: "job.rejected",
}


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z") if epoch else None


def receipt(job: Job) -> dict[str, Any]:
    items = list(job.delivery.get("items", {}).values())
    cost = sum((Decimal(str(i.get("cost", "0"))) for i in items), Decimal(0))
    durations = [i.get("duration", 0) for i in items]
    return {
        "job_id": job.id,
        "reference": job.reference,
        "file": job.name,
        "sha256": job.sha256,
        "size": job.size,
        "pages": job.pages,
        "folder": job.folder,
        "to": job.numbers,
        "transaction_ids": sorted({*job.transaction_ids, *(int(i["transaction_id"]) for i in items)}),
        "outcome": str(job.outcome) if job.outcome is not None else None,
        "status": job.status,
        "reason": job.reason,
        "attempts": job.attempts,
        "submitted_at": _iso(job.submitted_at),
        "completed_at": _iso(job.completed_at),
        "pages_sent": sum(int(i.get("pages_sent", 0)) for i in items) if items else None,
        "duration_s": sum(durations) if items else None,
        "remote_csid": ";".join(i.get("remote_csid", "") for i in items if i.get("remote_csid")) or None,
        "cost": str(cost) if items else None,
        "deliveries": items,
        # A request InterFAX held past the reconciliation and processed after the resend (twins.py).
        "late_originals": list(job.delivery.get(twins.TWINS, {}).values()),
        "file_type": job.file_type,
        # Present only on a dead peer's document this host took over with `faxdropd adopt`.
        **({"adopted_from": peer} if (peer := workarea.adopted_from(job.work_path)) else {}),
    }


class Ending(NamedTuple):
    """A job's outcome as decided, before it is recorded (`Finisher.finish_many`)."""

    job: Job
    outcome: Outcome
    status: int | None
    reason: str
    facts: dict[str, Any]


class Finisher:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        # Set by the daemon: files a job whose outcome is recorded on another thread (daemon/mainloop.py), so
        # a worker that sent a fax goes on to the next one instead of writing the receipt first.
        self.file_later: Callable[[Job], None] | None = None
        # Jobs being filed right now, by any thread: the tracker files a poll round while the main loop's
        # refile pass may read the same jobs (outcome recorded, not final yet); only one of them may file and
        # announce each.
        self._in_hand: set[str] = set()
        self._hand_lock = threading.Lock()

    def finish(
        self,
        job: Job,
        outcome: Outcome,
        status: int | None,
        reason: str,
        *,
        checked: preflight.Checked | None = None,
        code: int | None = None,
        later: bool = False,
        **facts: Any,
    ) -> None:
        """Record the outcome, then file the document now, or (`later`, when the daemon can) on its filing thread:
        the outcome is committed first either way, so a crash in between leaves a job the refile pass files."""
        if checked is not None:
            facts.setdefault("sha256", checked.sha256)
            facts.setdefault("size", checked.size)
            facts.setdefault("pages", checked.pages)
            facts.setdefault("file_type", checked.file_type)
        if code is not None:
            facts["delivery"] = {**job.delivery, "result_code": code}
        job = self.rt.journal.commit(self._outcome(Ending(job, outcome, status, reason, facts)))
        crashpoints.hit("after_outcome", job.name)
        if later and self.file_later is not None:
            self.file_later(job)
            return
        self.refile(job, resume=False)

    def finish_many(self, endings: list[Ending]) -> None:
        """Finish a batch (the tracker's poll round): the outcomes in one commit, the documents filed with one
        fsync per directory, the final states in one commit; every step in the order `finish` keeps."""
        recorded = self.rt.journal.change_many([self._outcome(ending) for ending in endings])
        jobs = [job for job in recorded if job is not None]
        for job in jobs:
            crashpoints.hit("after_outcome", job.name)
        self.refile_many(jobs, resume=False)

    def _outcome(self, ending: Ending) -> Change:
        job, outcome = ending.job, ending.outcome
        facts = {**ending.facts, "outcome": outcome, "status": ending.status, "reason": ending.reason}
        facts["completed_at"] = time.time()
        # The notifications this outcome causes commit with it: a crash can lose neither without the other.
        cfg, planned = self.rt.config, []
        if notices.wanted(cfg, job.folder, str(outcome)):
            extra = notices.sidecar_recipients(job.sidecar_path, cfg.notify.allow_domains)
            facts_now = receipt(dataclasses.replace(job, **facts))
            planned = notices.plan(cfg, job.folder, str(outcome), facts_now, job_id=job.id, sidecar=extra)
        return Change(job, None, f"outcome {outcome}", facts, planned)

    def refile(self, job: Job, *, resume: bool = True) -> bool:
        """File a job whose outcome is recorded; False if its folder is unavailable right now."""
        return not self.refile_many([job], resume=resume)

    def refile_many(self, jobs: list[Job], *, resume: bool = True) -> list[Job]:
        """File jobs whose outcome is recorded, each directory fsync'd once for all of them before their final
        states are committed together; returns the jobs postponed because their folder is unavailable."""
        postponed: list[Job] = []
        placed: list[tuple[Job, Path | None]] = []
        touched: list[Path] = []
        with self._taking(jobs) as mine:
            if resume:  # the refile pass's snapshot may be older than a filing that finished meanwhile
                mine = [fresh for job in mine if (fresh := self.rt.journal.get(job.id)) is not None]
            for job in mine:
                if job.state in FINAL or job.outcome is None:
                    continue
                spot = self._place(job, resume, touched)
                if spot is False:
                    postponed.append(job)
                else:
                    placed.append((job, spot))
            filing.sync_dirs(touched)
            for job, _ in placed:
                crashpoints.hit("after_file", job.name)
            closing = [
                Change(job, job.outcome.state, f"filed {final}", {"final_path": str(final) if final else None})
                for job, final in placed
                if job.outcome is not None
            ]
            for (job, final), closed in zip(placed, self.rt.journal.change_many(closing), strict=True):
                crashpoints.hit("after_final", job.name)
                if closed is None:
                    log.warning("lease.lost", reason=f"job {job.id} taken over by another instance; not filed here")
                else:
                    self._announce(closed, final)
        return postponed

    @contextmanager
    def _taking(self, jobs: list[Job]) -> Iterator[list[Job]]:
        """The jobs no other thread is filing, in hand until the block ends; the others are left to it."""
        with self._hand_lock:
            mine = [job for job in jobs if job.id not in self._in_hand]
            self._in_hand.update(job.id for job in mine)
        try:
            yield mine
        finally:
            with self._hand_lock:
                self._in_hand.difference_update(job.id for job in mine)

    def _place(self, job: Job, resume: bool, touched: list[Path]) -> Path | Literal[False] | None:
        """Move the job's document and receipt into place (directories to fsync added to `touched`): the filed
        path, None when the work file was removed by hand, False when the folder is out of reach for now."""
        assert job.outcome is not None
        folder = self.rt.folder(job.folder)
        hot = Path(job.hot)
        sent = folder.sent if folder else hot / SENT_DIR
        failed = folder.failed if folder else hot / FAILED_DIR
        dest_dir = sent if job.outcome.succeeded else failed
        if folder is not None and self.rt.config.retention_for(folder).archive == "dated":
            # The month of the recorded completion: a retry after a crash or a share outage files it alike.
            dest_dir = archive.month_dir(dest_dir, job.completed_at or job.updated_at)
        work = Path(job.work_path)
        try:
            if work.exists() or work.is_symlink():
                facts = receipt(job)
                if facts["sha256"] is None and (content := fsutil.content_facts(work)) is not None:
                    facts["sha256"], facts["size"] = content
                final = filing.file_document(
                    work,
                    dest_dir,
                    job.name,
                    facts,
                    hot=hot,
                    resume=resume,
                    sidecar=Path(job.sidecar_path) if job.sidecar_path else None,
                    sync=False,
                )
                touched += [dest_dir, work.parent]
                return final
            if not work.parent.is_dir():
                # The work area went away with its share (unmounted, or a bare mount point in its place):
                # the document is out of reach, not lost. Postpone; never close the job as "work missing".
                raise FileNotFoundError(f"work area unavailable: {work.parent}")
            found = filing.find_filed([dest_dir], job.id)
            if found is None:
                # Nothing to file and nothing filed: the work file was removed by hand.
                log.warning("job.work_missing", job_id=job.id, file=job.name)
            return found
        except FileNotFoundError:
            log.warning("job.filing_postponed", job_id=job.id, folder=job.folder, reason="folder unavailable")
            return False
        except OSError as exc:
            # ENOSPC/EIO on the share: the daemon's refile pass retries every few seconds until it fits.
            log.error(
                "job.filing_postponed",
                job_id=job.id,
                folder=job.folder,
                reason=f"{exc.strerror or type(exc).__name__} (errno {exc.errno})",
            )
            return False

    def _announce(self, job: Job, final: Path | None) -> None:
        outcome = job.outcome
        assert outcome is not None
        self.rt.metrics.job_finished(job.folder, str(outcome), job.pages)
        fields = {
            "job_id": job.id,
            "folder": job.folder,
            "file": job.name,
            "reference": job.reference,
            "outcome": str(outcome),
            "status": job.status,
            "reason": job.reason,
            "transaction_ids": job.transaction_ids,
            "filed": str(final) if final else None,
        }
        if outcome in _EVENT:
            log.info(_EVENT[outcome], **fields)
        else:
            log.warning(_NOT_SENT_EVENT[outcome], **fields)
