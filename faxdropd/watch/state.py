"""One hot folder's state as the watcher keeps it, and what a finished probe means for it (up, down, back,
recreated, which filesystem, which files). No I/O and no watchdog: the probe already ran on a pool thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from faxdropd.files.names import is_sidecar
from faxdropd.watch import mounts
from faxdropd.watch.scan import Job, Probe, WatchSpec
from faxdropd.watch.stability import FileState, StabilityTracker

log = structlog.get_logger(__name__)

# Event folders get a health stat every max(poll_interval, HEALTH_INTERVAL) s, not every poll_interval. For
# them the stat is only a backstop: inotify reports the folder's own deletion or move (IN_DELETE_SELF /
# IN_MOVE_SELF, routed to an immediate health probe), and an unmount, which inotify does not report while its
# own watch keeps the filesystem busy (`umount -l`), shows in the mount table, compared every <= 1 s
# (FolderCycle._check_mounts). What is left for the stat (a parent made unreadable, EIO/ESTALE) waits 10 s
# at most. A health probe costs ~0.1 ms of CPU all in (thread hand-off included): at poll_interval (2 s
# default) it was most of the idle cost of hundreds of event folders (200 folders: ~0.5 % of a core at 5 s,
# ~0.25 % at 10 s). Polled and down folders keep poll_interval: for them the probe is the only signal.
HEALTH_INTERVAL = 10.0
# How long ready() waits for the probes it just started for event hints and stability checks. A local lstat
# takes microseconds, so the answer is applied in the same call instead of a loop tick later; a probe stuck on
# a dead mount is left behind after this bound, as before.
INLINE_WAIT = 0.02
# How often the mount table is compared (at most; poll_interval if shorter), see FolderCycle._check_mounts.
MOUNT_CHECK = 1.0


@dataclass(eq=False)
class Folder:
    spec: WatchSpec
    tracker: StabilityTracker
    mode: str  # "events" | "poll", or "auto" until the first probe has named the filesystem
    up: bool = True
    slow: bool = False
    problem: str = ""
    mount: str = ""  # mount point recorded at the first good probe
    identity: tuple[int, int] | None = None  # (st_dev, st_ino): a change means recreated or remounted
    watch: Any = None  # watchdog's ObservedWatch while events are scheduled
    hints: set[Path] = field(default_factory=set)
    job: Job | None = None
    next_full: float = 0.0
    next_health: float = 0.0
    watch_retry: float = 0.0
    # The last listing's names (name -> Path, None when unwanted), reused by the next one: watch_scan.list_folder.
    names: dict[str, Path | None] = field(default_factory=dict)
    # Content verdicts of the files listed (watch_scan.with_content), so unchanged files are not re-read.
    content: dict[Path, tuple[FileState, str]] = field(default_factory=dict)

    def health_interval(self) -> float:
        events = self.up and self.mode == "events"
        return max(self.spec.poll_interval, HEALTH_INTERVAL) if events else self.spec.poll_interval

    def down(self, problem: str) -> None:
        if self.up or self.problem != problem:
            log.warning("watch.folder_down", folder=self.spec.name, path=str(self.spec.path), problem=problem)
        self.up, self.problem = False, problem
        self.hints.clear()

    def take(self, result: Probe, now: float) -> bool:
        """Apply a probe that found the folder usable. True when its inotify watch is stale (the folder is
        back, or was recreated or remounted under us) and must be scheduled again."""
        stale = not self.up or (self.identity is not None and result.identity != self.identity)
        if stale:  # what we knew is stale too
            log.info("watch.folder_back", folder=self.spec.name, recreated=self.up)
            self.tracker.clear()
            if result.listing is None:
                self.next_full = now
        self.up, self.problem, self.identity = True, "", result.identity
        self.mount = self.mount or result.mount
        if self.mode == "auto":
            self.mode = "poll" if mounts.is_network_type(result.fstype) else "events"
            self.next_full = min(self.next_full, now + self.spec.poll_interval)
            log.info("watch.mode_chosen", folder=self.spec.name, fstype=result.fstype or "?", mode=self.mode)
        if result.listing is not None:
            self._announce(result.listing.items())
            self.tracker.sync(result.listing, result.start, result.end)
        self._announce(result.stats.items())
        for path, state in result.stats.items():
            self.tracker.observe(path, state, result.start, result.end)
        return stale

    def _announce(self, found: Iterable[tuple[Path, FileState | None]]) -> None:
        # First sight of a document: the `job.detected` step of the log vocabulary (events.py).
        for path, state in found:
            if state is not None and path not in self.tracker and not is_sidecar(path.name):
                log.info("job.detected", folder=self.spec.name, file=path.name, size=state.size)


def warn_fallbacks(count: int) -> None:
    def limit(name: str) -> str:
        try:
            return Path("/proc/sys/fs/inotify", name).read_text().strip()
        except OSError:
            return "?"

    log.warning(
        "watch.inotify_fallback",
        folders=count,
        max_user_instances=limit("max_user_instances"),
        max_user_watches=limit("max_user_watches"),
        action="polled every poll_interval instead of an inotify watch; to watch them with events raise the "
        "limits, e.g. sysctl -w fs.inotify.max_user_watches=524288 fs.inotify.max_user_instances=1024 "
        "(persist in /etc/sysctl.d/)",
    )
