"""What the daemon tells systemd and operators about its own health: watchdog pings and folder up/down.

Kept apart from the main loop so the rules are testable with real threads and a real Watcher, without
running a whole daemon.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from faxdropd.daemon import sdnotify
from faxdropd.daemon.metrics import MetricsSink
from faxdropd.watch.watcher import Watcher

log = structlog.get_logger(__name__)


class Health:
    def __init__(self, folder_changed: Callable[[str, bool, str], None] | None = None) -> None:
        self.folder_changed = folder_changed  # each logged folder.down/folder.up, for the notifications
        self.tracker: threading.Thread | None = None
        self.workers: list[threading.Thread] = []
        self.watcher: Watcher | None = None
        self.folder_up: dict[str, bool] = {}  # last health seen per folder, for folder.down/folder.up
        self._unhealthy = ""  # why the last watchdog ping was withheld ("" = healthy)

    def problem(self) -> str:
        """Why the daemon cannot do its work ("" when it can): a dead tracker, worker or watcher thread.

        Each of them would otherwise fail silently while the main loop kept pinging: files would pile up
        unclaimed, unsent or untracked under a service systemd believes healthy.
        """
        if self.tracker is not None and not self.tracker.is_alive():
            return "the delivery tracker thread died"
        dead = sum(not w.is_alive() for w in self.workers)
        if dead:
            return f"{dead} of {len(self.workers)} worker threads died"
        if self.watcher is not None and not self.watcher.alive():
            return "the folder watcher is not running (observer or scan threads dead)"
        return ""

    def ping(self) -> bool:
        """WATCHDOG=1 if healthy; otherwise withhold it (systemd then restarts us) and say why, once."""
        problem = self.problem()
        if problem:
            if problem != self._unhealthy:
                log.error(
                    "daemon.watchdog_skipped",
                    reason=problem,
                    action="withholding the systemd watchdog ping so that systemd restarts the service",
                )
            self._unhealthy = problem
            return False
        self._unhealthy = ""
        sdnotify.watchdog_ping()
        return True

    def watch_folders(self, metrics: MetricsSink, path_of: Callable[[str], str]) -> None:
        """Log and export each change of a folder's health: a share that went away pauses its folder."""
        if self.watcher is None:
            return
        health = self.watcher.health()
        problems: dict[str, str] | None = None
        for name, up in health.items():
            was = self.folder_up.get(name)
            if was == up:
                continue
            self.folder_up[name] = up
            metrics.folder_health(name, up)
            if not up:
                problems = self.watcher.problems() if problems is None else problems
                reason = problems.get(name, "unavailable")
                log.warning(
                    "folder.down",
                    folder=name,
                    path=path_of(name),
                    reason=reason,
                    action="paused: files in it wait until it is back",
                )
                self._changed(name, up, reason)
            elif was is not None:
                log.info("folder.up", folder=name, path=path_of(name), action="resumed")
                self._changed(name, up, "")
        for gone in set(self.folder_up) - set(health):  # removed by a reload
            del self.folder_up[gone]

    def _changed(self, name: str, up: bool, reason: str) -> None:
        if self.folder_changed is not None:
            self.folder_changed(name, up, reason)

    def down(self) -> list[str]:
        return sorted(name for name, up in self.folder_up.items() if not up)
