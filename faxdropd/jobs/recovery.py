"""Start-up recovery: every journaled job resumes from the state it was in when the last process died.

The rule for each state follows from what may have happened after its commit:
`claimed`/`uploading` — nothing was sent, so the job starts again; `submitting` — SendfaxEx_2 may have
reached InterFAX, so the job becomes `unknown` and is reconciled by reference, never resent blindly;
`submitted`/`unknown`/`deferred` — the tracker and the scheduler pick them up as they are.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from faxdropd.files import filing, workarea
from faxdropd.jobs import adoption, instances
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import FINAL, NOT_FINAL, Job, State
from faxdropd.jobs.runtime import Runtime

log = structlog.get_logger("faxdropd.jobs.recovery")


def recover(rt: Runtime, finisher: Finisher) -> list[Job]:
    """Bring every unfinished job to a resumable state; returns the jobs to queue for processing now."""
    runnable: list[Job] = []
    journal = rt.journal
    # Our own area only, from here on: another instance's area is its host's (DESIGN §4).
    name = instances.resolve(journal, rt.config)
    adoption.settle_taken(journal)
    workarea.set_instance(name)
    # A share that is away (EIO, ENOTCONN) is migrated at a later start; its folder is paused meanwhile.
    instances.migrate_legacy(journal, [f.path for f in rt.config.folders if adoption.reachable_dir(f.path)])
    log.info("instance.ready", instance=name)
    for job in journal.by_state(*NOT_FINAL):
        resumed = resume(rt, finisher, job, "restart", "the daemon stopped while submitting")
        if resumed is not None:
            runnable.append(resumed)
    release_orphans(rt)
    adoption.take_adopted(journal, rt.config.folders)
    adoption.heartbeat(rt.config.folders)
    return runnable


def resume(rt: Runtime, finisher: Finisher, job: Job, cause: str, stopped: str) -> Job | None:
    """One job whose last worker is gone (a restart, or a peer whose lease expired): the job to run now, if any.

    Also the rule for a job taken over from another instance (jobs/takeover.py), which is the same situation.
    """
    journal = rt.journal
    if job.outcome is not None:
        finisher.refile(job)
    elif job.state is State.CLAIMED:
        return job
    elif job.state is State.UPLOADING:
        return journal.transition(job, State.CLAIMED, f"{cause}: upload interrupted", submitted_at=None)
    elif job.state is State.SUBMITTING:
        # The request may have gone out, so it counts as an attempt, as a lost reply does in the pipeline.
        journal.transition(
            job,
            State.UNKNOWN,
            f"{cause}: submission may have reached InterFAX",
            reason=stopped,
            attempts=job.attempts + 1,
        )
        log.warning("job.unknown", job_id=job.id, reference=job.reference, reason=f"{cause} during submit")
    return None


def release_orphans(rt: Runtime) -> None:
    """Files in a work area with no live job were claimed just before a crash: give them back untouched."""
    live = journal_ids(rt)
    for folder in rt.config.folders:
        try:
            _release_folder(rt, folder.path, folder.name, live)
        except OSError as exc:
            # Its share is down (EIO, ENOTCONN): the daemon must still start, with the folder reported down
            # and its jobs waiting. Orphans there, if any, are given back at the next start.
            log.warning("job.release_postponed", folder=folder.name, reason=exc.strerror or str(exc))


def _release_folder(rt: Runtime, hot: Path, name: str, live: set[str]) -> None:
    if hot.is_dir():
        for path in filing.cleanup_work(hot, live):
            job_id = path.name.split("__", 1)[0]
            known = rt.journal.get(job_id)
            if known is not None and known.state not in FINAL:
                continue
            if path.is_dir():
                continue
            back = filing.release(path, hot)
            log.warning("job.released", folder=name, file=back.name, reason="claimed before a crash")


def journal_ids(rt: Runtime) -> set[str]:
    return {Path(p).name.split("__", 1)[0] for p in rt.journal.live_work_paths()}
