"""Intake: taking stable files out of their hot folders into work areas and journaling them, in batches.

Runs on the main loop. A claim is a rename within the folder's filesystem (filing.claim), so of two daemons
racing for a file exactly one gets it; the journal learns of a claim only after the rename is durable.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from faxdropd import crashpoints
from faxdropd.config import FolderConfig
from faxdropd.files import filing, names
from faxdropd.jobs import settle
from faxdropd.jobs.journal import Job, Journal, State, new_job_id

log = structlog.get_logger(__name__)


def claim_batch(journal: Journal, items: list[tuple[FolderConfig, Path]]) -> list[Job]:
    """Claim a batch: every rename first, one fsync per directory, then one journal commit for all.

    A crash after the renames and before the commit leaves work files no job owns; the restart gives them back
    to their hot folders untouched (recovery.release_orphans). Claiming one by one cost three fsyncs per
    document on the main loop, which set the pace of the whole daemon for small faxes.
    """
    jobs: list[Job] = []
    touched: list[Path] = []
    # Sidecars are looked up before any rename: a rename changes the folder's mtime, and with it the
    # listing that finds a sidecar spelt in another case would be taken again for every document.
    sidecars = [names.find_sidecar(path) if "sidecar" in folder.to_from else None for folder, path in items]
    for (folder, path), sidecar_src in zip(items, sidecars, strict=True):
        job = _claim(folder, path, sidecar_src)
        if job is not None:
            jobs.append(job)
            touched += [Path(job.work_path).parent, path.parent]
    if not jobs:
        return jobs
    filing.sync_dirs(touched)
    journal.create_many(jobs)
    for job in jobs:
        crashpoints.hit("after_create", job.name)
        log.info("job.claimed", job_id=job.id, folder=job.folder, file=job.name, reference=job.reference)
    return jobs


def _claim(folder: FolderConfig, path: Path, sidecar_src: Path | None) -> Job | None:
    """Rename one document (and its sidecar) into the work area, not yet durable; None if it was not taken."""
    job_id = new_job_id()
    seen = settle.observe(path)  # what a writer still holding the file would change (jobs/settle.py)
    try:
        work = filing.claim(path, folder.path, job_id, sync=False)
    except OSError as exc:
        # E.g. no write permission on the folder: the file stays where it is, and the watcher offers it again
        # after its cooldown. One file must not stop the daemon, nor strand the rest of the batch.
        log.warning("job.claim_failed", folder=folder.name, file=path.name, error=exc.strerror or str(exc))
        return None
    if work is None:
        return None  # another daemon won the rename
    crashpoints.hit("after_claim", path.name)
    sidecar = None
    if sidecar_src is not None:
        try:
            sidecar = filing.claim_sidecar(sidecar_src, folder.path, job_id, sync=False)
        except OSError as exc:
            # Never send a document without the sidecar that names its numbers: give it back.
            log.warning("job.claim_failed", folder=folder.name, file=sidecar_src.name, error=exc.strerror or str(exc))
            filing.release(work, folder.path)
            return None
    return Job(
        id=job_id,
        reference=f"fd-{job_id}",
        folder=folder.name,
        hot=str(folder.path),
        name=path.name,
        work_path=str(work),
        sidecar_path=str(sidecar) if sidecar else None,
        state=State.CLAIMED,
        delivery={"claimed_as": seen} if seen else {},
    )
