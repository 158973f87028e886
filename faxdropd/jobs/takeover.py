"""Jobs of an instance whose leases expired, taken over by this one: the failover of a shared journal.

A taken job is in whatever state its last owner left it, exactly as after a crash of that owner, and it is
resumed by the same rule (jobs/recovery.py:resume): nothing that may have reached InterFAX is sent again
before the tracker has looked for it by its reference. First its work file comes into this instance's area
(files/filing.py:take_from_peer), then the journal is pointed at it.
"""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from faxdropd.files import filing
from faxdropd.jobs import leases
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Job, State
from faxdropd.jobs.recovery import resume
from faxdropd.jobs.runtime import Runtime

log = structlog.get_logger("faxdropd.jobs.takeover")


def take_over(rt: Runtime, finisher: Finisher) -> int:
    """Take every job whose lease expired and resume it; returns how many were taken."""
    journal = rt.journal
    taken = leases.take_expired(journal)
    for job_id, peer in taken:
        job = journal.get(job_id)
        if job is None:
            continue
        log.warning(
            "lease.taken_over",
            job_id=job.id,
            reference=job.reference,
            folder=job.folder,
            file=job.name,
            state=str(job.state),
            previous_owner=peer,
        )
        job = _bring_files(rt, job)
        runnable = resume(rt, finisher, job, f"taken over from {peer}", f"{peer} stopped while submitting")
        if runnable is not None:
            # Queued through the scheduler like any due job: the main loop picks up deferred jobs of ours.
            journal.defer(runnable, time.time(), f"taken over from {peer}")
    return len(taken)


def _bring_files(rt: Runtime, job: Job) -> Job:
    moved: dict[str, str] = {}
    hot = Path(job.hot)
    for field in ("work_path", "sidecar_path"):
        value = getattr(job, field)
        if not value or job.state in (State.ADOPTED,):
            continue
        try:
            dest = filing.take_from_peer(Path(value), hot)
        except OSError as exc:
            # The share is away: the job stays ours with its old path, and is moved at the next pass's look.
            log.warning("lease.move_postponed", job_id=job.id, reason=exc.strerror or str(exc))
            continue
        if dest is not None and str(dest) != value:
            moved[field] = str(dest)
    if moved:
        job = rt.journal.update(job, "work file moved into this instance's work area", **moved)
    return job
