"""A dead peer's work, taken over: the daemon's half of `faxdropd adopt`, and the returning peer's half.

`faxdropd adopt PEER` only renames `<hot>/.faxdropd/<PEER>` to `<hot>/.faxdropd/<self>/adopted-<PEER>-<stamp>`
(one atomic rename per hot folder); the daemon, which owns the journal, does the rest here on its next pass.

The peer's journal is on the peer's disk, so what its jobs were is rebuilt from its work files: a work file is
`<job_id>__<name>` and every job's reference is `fd-<job_id>` (intake._claim). The rule: each adopted document
becomes a job of ours with the peer's id and reference, in state `unknown`, so the tracker's reconciliation
asks InterFAX (FaxQuery2, on the reference) before anything is sent: found means the peer submitted it, and it
is tracked to the end, never resent; provably absent means the peer never sent it, and it is sent under that
same reference, routed from its name and sidecar like any document of that folder.

A peer that comes back finds its live jobs' work files gone: those jobs end in the final state `adopted` and
nothing is filed or sent for them there (the adopter does both).
"""

from __future__ import annotations

import os
import time
from contextlib import suppress
from pathlib import Path

import structlog

from faxdropd.config import FolderConfig
from faxdropd.files import filing, names, workarea
from faxdropd.files.fsutil import content_facts, fsync_dir
from faxdropd.jobs.journal import NOT_FINAL, Job, Journal, State

log = structlog.get_logger("faxdropd.jobs.adoption")


def take_adopted(journal: Journal, folders: list[FolderConfig]) -> list[Job]:
    """Journal every document in our `adopted-*` areas not yet known, as `unknown` jobs; returns them."""
    me = workarea.instance()
    if me is None:
        return []
    jobs: list[Job] = []
    for folder in folders:
        try:
            areas = [e for e in os.scandir(workarea.instance_dir(folder.path, me)) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for area in areas:
            if area.name.startswith(workarea.ADOPTED_PREFIX):
                jobs += _take_area(journal, folder, Path(area.path))
    if jobs:
        journal.create_many(jobs)
        for job in jobs:
            log.warning(
                "job.adopted",
                job_id=job.id,
                folder=job.folder,
                file=job.name,
                reference=job.reference,
                adopted_from=workarea.adopted_from(job.work_path),
            )
    return jobs


def _take_area(journal: Journal, folder: FolderConfig, area: Path) -> list[Job]:
    entries = {e.name: e for e in os.scandir(area) if e.is_file(follow_symlinks=False) and "__" in e.name}
    if not entries:
        _drop_empty(area)
        return []
    jobs = []
    for name, entry in entries.items():
        if names.is_sidecar(name):
            continue
        job_id, original = name.split("__", 1)
        if journal.get(job_id) is not None:
            continue
        sidecar = names.find_sidecar(Path(entry.path))
        mtime = entry.stat(follow_symlinks=False).st_mtime
        facts = content_facts(Path(entry.path))
        jobs.append(
            Job(
                id=job_id,
                reference=f"fd-{job_id}",
                folder=folder.name,
                hot=str(folder.path),
                name=original,
                work_path=entry.path,
                sidecar_path=str(sidecar) if sidecar is not None else None,
                state=State.UNKNOWN,
                attempts=1,
                # A document found submitted is never pre-flighted here: its receipt still names the bytes filed.
                sha256=facts[0] if facts else None,
                size=facts[1] if facts else None,
                # The lookup window starts here: the peer claimed (and sent) the file after it was written.
                created_at=min(mtime, time.time()),
            )
        )
    return jobs


def _drop_empty(area: Path) -> None:
    """An adopted area whose documents are all filed: only the peer's heartbeat is left in it."""
    with suppress(FileNotFoundError):
        (area / workarea.ALIVE).unlink()
    with suppress(OSError):
        area.rmdir()  # fails harmlessly if anything else is still there


def settle_taken(journal: Journal) -> None:
    """At start-up, before our areas are (re)created: live jobs whose work file a peer adopted end `adopted`.

    Only where the hot folder's `.faxdropd/` is there (a share that is away shows nothing) and the job's
    outcome was not yet known (those are filed or found filed by the refile pass).
    """
    for job in journal.by_state(*NOT_FINAL):
        # Only a file provably gone from a work area provably there counts: a share that answers EIO or
        # ENOTCONN tells nothing, and such a job waits for the next start (its folder is paused meanwhile).
        if (
            job.outcome is not None
            or not _gone(Path(job.work_path))
            or not reachable_dir(Path(job.hot) / filing.WORK_DIR)
        ):
            continue
        journal.transition(
            job,
            State.ADOPTED,
            "work file gone: adopted by another host",
            reason="adopted by another host, which sends or tracks it to the end",
        )
        log.warning("job.adopted_away", job_id=job.id, folder=job.folder, file=job.name, reference=job.reference)


def _gone(path: Path) -> bool:
    try:
        os.lstat(path)
    except FileNotFoundError:
        return True
    except OSError:
        return False  # cannot tell
    return False


def reachable_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:
        return False  # cannot tell: treated as away


def heartbeat(folders: list[FolderConfig]) -> None:
    """Touch `.alive` in each of our areas: what a peer's `adopt` reads as "this host is working"."""
    for folder in folders:
        with suppress(OSError):  # a share that is away: its folder is paused anyway
            if folder.path.is_dir():
                workarea.touch_alive(folder.path)


def heartbeat_interval(peer_timeout: float) -> float:
    """Several beats per peer_timeout, so a live host never looks dead; at most one every 30 s."""
    return min(30.0, peer_timeout / 4)


def last_seen(area: Path) -> float:
    """When the instance owning `area` was last seen working: its heartbeat, or any claim or filing."""
    seen = area.stat().st_mtime  # a claim or a filing adds or removes an entry
    with suppress(FileNotFoundError):
        seen = max(seen, (area / workarea.ALIVE).stat().st_mtime)
    return seen


def move_area(hot: Path, peer: str, me: str) -> Path:
    """One atomic rename: the peer's whole area becomes `<hot>/.faxdropd/<me>/adopted-<peer>-<stamp>`.

    Atomic, so a peer that is in fact still running sees either all of its area or none of it; the stamp
    keeps a second adoption of the same peer apart from the first.
    """
    mine = workarea.instance_dir(hot, me)
    with suppress(FileExistsError):
        mine.mkdir(0o700)
    dest = mine / f"{workarea.ADOPTED_PREFIX}{peer}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    workarea.instance_dir(hot, peer).rename(dest)
    fsync_dir(mine)
    fsync_dir(hot / filing.WORK_DIR)
    return dest
