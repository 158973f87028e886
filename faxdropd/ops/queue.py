"""`queue`: every job that is not final, and every file still waiting in a hot folder with why it waits."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from faxdropd.config import Config, FolderConfig
from faxdropd.config.durations import format_duration
from faxdropd.files import names
from faxdropd.jobs import controls
from faxdropd.jobs.journal import NOT_FINAL, Job, Journal, State
from faxdropd.jobs.outbox import Backlog
from faxdropd.ops import notifications
from faxdropd.ops.notifications import QueuedNotification
from faxdropd.watch.stability import is_wanted


@dataclass(frozen=True)
class QueuedJob:
    job_id: str
    reference: str
    state: str
    folder: str
    file: str
    to: list[str]
    age_seconds: float
    reason: str | None
    next_attempt_at: float | None
    held: bool
    hold_reason: str | None
    transaction_ids: list[int]


@dataclass(frozen=True)
class WaitingFile:
    folder: str
    file: str
    path: str
    age_seconds: float
    why: str


@dataclass(frozen=True)
class Queue:
    jobs: list[QueuedJob]
    waiting: list[WaitingFile]
    holds: controls.Holds
    notifications: list[QueuedNotification] = field(default_factory=list)  # pending and given up
    backlog: Backlog = field(default_factory=Backlog)  # of every folder


def expected_numbers(cfg: Config, job: Job) -> list[str]:
    """The numbers of a job not routed yet (claimed, or held before a worker took it up), as routing would
    decide them now; empty when routing would reject the document (the worker files it then)."""
    folder = next((f for f in cfg.folders if f.name == job.folder), None)
    if folder is None:
        return []
    # Deferred: routing loads phonenumbers (~25 ms), and most queues hold no job waiting to be routed.
    from faxdropd.document import routing

    try:
        sidecar = routing.load_sidecar(Path(job.sidecar_path)) if job.sidecar_path else None
        return list(routing.route(job.name, folder, sidecar).numbers)
    except (routing.Rejection, OSError):
        return []


def queued_job(job: Job, holds: controls.Holds, now: float, cfg: Config | None = None) -> QueuedJob:
    reason = holds.jobs.get(job.id, holds.folders.get(job.folder))
    numbers = list(job.numbers) or (expected_numbers(cfg, job) if cfg is not None else [])
    return QueuedJob(
        job_id=job.id,
        reference=job.reference,
        state=str(job.state),
        folder=job.folder,
        file=job.name,
        to=numbers,
        age_seconds=round(now - job.created_at, 1),
        reason=job.reason,
        # Only a deferred job has a next attempt; other states keep a stale value from an earlier deferral.
        next_attempt_at=job.next_attempt_at if job.state is State.DEFERRED else None,
        held=holds.holds(job.id, job.folder),
        hold_reason=reason,
        transaction_ids=list(job.transaction_ids),
    )


def read_queue(
    cfg: Config,
    journal: Journal,
    *,
    daemon_running: bool,
    folder: str | None = None,
    state: str | None = None,
    now: float | None = None,
) -> Queue:
    now = time.time() if now is None else now
    holds = journal.read(controls.read_holds)
    states = [State(state)] if state else list(NOT_FINAL)
    jobs = [queued_job(j, holds, now, cfg) for j in journal.by_state(*states) if folder is None or j.folder == folder]
    waiting: list[WaitingFile] = []
    if state is None:  # a job state asked for: files and notifications have none of those
        until = float(journal.get_meta("paused_until") or 0)
        paused = journal.get_meta("paused_reason") if until > now else None
        for f in cfg.folders:
            if folder is None or f.name == folder:
                waiting += waiting_files(f, holds, paused, daemon_running, now)
        return Queue(jobs, waiting, holds, notifications.listed(journal, now, folder), journal.outbox_backlog())
    return Queue(jobs, waiting, holds)


def waiting_files(
    folder: FolderConfig, holds: controls.Holds, paused: str | None, daemon_running: bool, now: float
) -> list[WaitingFile]:
    """Documents in the hot folder not yet claimed (claimed ones moved to the work area), each with a reason."""
    try:
        entries = sorted(os.scandir(folder.path), key=lambda e: e.name)
    except OSError as exc:
        return [WaitingFile(folder.name, "", str(folder.path), 0.0, f"folder unreadable: {exc.strerror or exc}")]
    found: list[WaitingFile] = []
    for entry in entries:
        name = entry.name
        if name.startswith(".") or names.is_sidecar(name) or name.endswith(names.RECEIPT_SUFFIX):
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                continue
            age = max(0.0, now - entry.stat(follow_symlinks=False).st_mtime)
        except OSError:
            continue  # claimed or removed while we looked
        why = _why(folder, Path(entry.path), age, holds, paused, daemon_running)
        found.append(WaitingFile(folder.name, name, entry.path, round(age, 1), why))
    return found


def _why(
    folder: FolderConfig, path: Path, age: float, holds: controls.Holds, paused: str | None, daemon_running: bool
) -> str:
    if not is_wanted(path.name, folder.include, folder.ignore):
        return "ignored: it matches an ignore pattern or no include pattern"
    if age < folder.stable_seconds:
        stable = format_duration(folder.stable_seconds)
        return f"settling: changed {format_duration(age)} ago, taken once unchanged for {stable}"
    if folder.to_from == ["sidecar"] and names.find_sidecar(path) is None:
        return f"waiting for its sidecar {path.name}{names.SIDECAR_SUFFIX}"
    if not daemon_running:
        return "the daemon is not running"
    if folder.name in holds.folders:
        return f"folder held: {holds.folders[folder.name] or 'by the operator'}"
    if paused:
        return f"sending paused: {paused}"
    return "waiting to be claimed"
