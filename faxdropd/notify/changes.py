"""Account and folder events (paused, resumed, folder_down, folder_up), noticed as the daemon reports its state.

The daemon calls `observe` with what it sees every couple of seconds; a change from the last look becomes a
notification in the outbox, planned like an outcome's (a folder's own `notify:` rules for its folder events,
the global block's for the account). The first look only sets the baseline: a restart announces nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from faxdropd.config import Config
from faxdropd.jobs import notices
from faxdropd.jobs.journal import Journal


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class StateChanges:
    def __init__(self, journal: Journal, config: Callable[[], Config]) -> None:
        self.journal = journal
        self.config = config
        self._paused: bool | None = None
        self._up: dict[str, bool] = {}

    def observe(self, paused: bool, reason: str, folders_up: Mapping[str, bool]) -> None:
        cfg = self.config()
        planned = []
        if self._paused is not None and paused != self._paused:
            event = "paused" if paused else "resumed"
            payload = {"reason": reason or None, "at": _now(), "folder": None, "file": None}
            planned += notices.plan(cfg, "", event, payload, job_id=None)
        self._paused = paused
        for folder, up in folders_up.items():
            before = self._up.get(folder)
            if before is not None and before != up:
                event = "folder_up" if up else "folder_down"
                payload = {"folder": folder, "at": _now(), "file": None, "reason": None}
                planned += notices.plan(cfg, folder, event, payload, job_id=None)
            self._up[folder] = up
        self.journal.enqueue(planned)
