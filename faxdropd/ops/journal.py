"""How the operator's operations reach the journal and learn whether the daemon runs.

Reads open the journal read-only (SQLite `mode=ro` beside the daemon's WAL writer is safe), so they need
neither the lock nor the password and work with the service stopped. Whether the daemon runs is whether the
lock on state_dir/faxdropd.lock is held; the daemon writes its pid there when it takes the lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from faxdropd.errors import FaxdropError
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.opening import journal_exists, open_journal, where

if TYPE_CHECKING:
    from faxdropd.jobs.opening import Place

LOCK_NAME = "faxdropd.lock"


class NoJournal(FaxdropError):
    """The state directory has no journal yet: the daemon never ran with it."""


@dataclass(frozen=True)
class DaemonState:
    running: bool
    pid: int | None
    since: float | None  # when it took the lock (the lock file's mtime), if running


def daemon_state(state_dir: Path) -> DaemonState:
    lock = state_dir / LOCK_NAME
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return DaemonState(False, None, None)
    try:
        try:
            # A shared lock is refused only while someone holds the exclusive one: the daemon.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            info = os.fstat(fd)
            text = os.read(fd, 64).decode(errors="replace").strip()
            return DaemonState(True, int(text) if text.isdigit() else None, info.st_mtime)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return DaemonState(False, None, None)
    finally:
        os.close(fd)


@contextmanager
def reading(cfg: Place) -> Iterator[Journal]:
    """The journal, read-only; NoJournal if there is none (nothing is created)."""
    if not journal_exists(cfg):
        raise NoJournal(f"no journal at {where(cfg)}: the daemon has not run with this state_dir yet")
    journal = open_journal(cfg, read_only=True)
    try:
        yield journal
    finally:
        journal.close()
