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

from faxdropd.files import filing, workarea
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
    if taken:
        rt.submitted.set()  # the tracker reads its submitted jobs again: some of them are new to it
    release_orphans_of_dead(rt)
    return len(taken)


def release_orphans_of_dead(rt: Runtime) -> None:
    """Files a dead peer claimed but never journaled (it died between the rename and the commit) go back to
    the hot folder, as its own restart would have done (jobs/recovery.py:release_orphans): else nobody would."""
    dead = leases.dead_peers(rt.journal)
    if not dead:
        return
    live = {Path(p).name.split("__", 1)[0] for p in rt.journal.live_work_paths()}
    for folder in rt.config.folders:
        for peer in dead:
            area = workarea.instance_dir(folder.path, peer)
            try:
                orphans = workarea.cleanup_work(folder.path, live, area=area)
                for path in orphans:
                    if rt.journal.get(path.name.split("__", 1)[0]) is not None:
                        continue  # journaled (final, or taken meanwhile): its owner files it
                    back = filing.release(path, folder.path)
                    log.warning("job.released", folder=folder.name, file=back.name, reason=f"claimed by {peer}")
            except OSError as exc:
                log.warning("job.release_postponed", folder=folder.name, reason=exc.strerror or str(exc))


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
