"""The instance's lock: one daemon per state_dir, whichever database holds the journal.

An exclusive flock on state_dir/faxdropd.lock with the holder's pid written in it (ops/journal.py reads it to
tell whether the daemon runs).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from faxdropd.errors import JournalLocked

LOCK_NAME = "faxdropd.lock"


def take(state_dir: Path) -> int:
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise JournalLocked(f"another faxdropd owns {state_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd
