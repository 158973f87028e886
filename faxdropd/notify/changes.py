"""Folder events (folder_down, folder_up) as notifications: the daemon's folder health calls `FolderEvents`.

A folder's health lives in the daemon's memory, not in the journal, so there is no state change to commit
with: each event is a single committed outbox insert, made when `folder.down`/`folder.up` is logged. The
account's events (paused, resumed) are committed with the pause itself (jobs/runtime.py:Pause).
"""

from __future__ import annotations

from collections.abc import Callable

from faxdropd.config import Config
from faxdropd.jobs import notices
from faxdropd.jobs.journal import Journal


class FolderEvents:
    def __init__(self, journal: Journal, config: Callable[[], Config]) -> None:
        self.journal = journal
        self.config = config

    def __call__(self, folder: str, up: bool, reason: str = "") -> None:
        event = "folder_up" if up else "folder_down"
        self.journal.enqueue(notices.state_event(self.config(), event, folder, reason))
