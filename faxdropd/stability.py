"""Pure decisions of intake: which names a folder takes, and when a file has stopped changing.

No I/O here (the watcher feeds observations in), so every rule is testable with made-up times.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import NamedTuple

# Always ignored, whatever the config says: editor/office lock and temp files, half-finished downloads,
# hidden files, and the droppings of Windows, macOS and Synology NAS shares (as Paperless-ngx's list).
DEFAULT_IGNORE: tuple[str, ...] = (
    "~$*", "*.tmp", "*.part", ".*", "Thumbs.db", "desktop.ini", ".DS_Store", "._*", "@eaDir",
)  # fmt: skip

SIDECAR_SUFFIX = ".fax.yaml"


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True when the bare file name matches any glob, case-insensitively ("*.PDF" takes "scan.pdf").

    fnmatch on the name, not watchdog's PurePath.full_match (where "*.pdf" matches no absolute path).
    """
    folded = name.casefold()
    return any(fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


def is_sidecar(name: str) -> bool:
    """A ``<document>.fax.yaml`` control file: the daemon reads it rather than faxing it."""
    return name.casefold().endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX)


def is_ignored(name: str, ignore: Iterable[str] = ()) -> bool:
    return matches(name, DEFAULT_IGNORE) or matches(name, ignore)


def is_wanted(name: str, include: Iterable[str], ignore: Iterable[str] = ()) -> bool:
    """Ignores (built-in and configured) win; sidecars are always wanted; an empty include takes all."""
    if is_ignored(name, ignore):
        return False
    if is_sidecar(name):
        return True
    patterns = list(include)
    return not patterns or matches(name, patterns)


class FileState(NamedTuple):
    """What is compared between observations. The inode catches a file replaced by rename with the same size
    and a preserved mtime (the Windows-copy case that fooled Camel's min-age check, CAMEL-19378)."""

    size: int
    mtime_ns: int
    ino: int
    regular: bool

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileState:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, stat.S_ISREG(st.st_mode))

    @property
    def eligible(self) -> bool:
        # An empty regular file is a writer that has not written yet. Symlinks, FIFOs and devices are reported
        # whatever their size so the daemon can reject them into failed/ instead of leaving them unexplained.
        return self.size > 0 or not self.regular


@dataclass
class _Entry:
    state: FileState
    since: float  # first observation of this state
    seen: float  # latest observation of this state
    reported: float | None = None


class StabilityTracker:
    """Per-folder memory of (size, mtime_ns, inode) observations.

    A path is ready when two observations at least ``stable_seconds`` apart found the same state. After being
    reported it is reported again only if it changes (and settles again), or if a fresh observation made at
    least ``cooldown`` seconds later still finds it: that repeats a claim that failed without a hot loop.
    """

    def __init__(self, stable_seconds: float, cooldown: float) -> None:
        self.stable_seconds = stable_seconds
        self.cooldown = cooldown
        self._entries: dict[Path, _Entry] = {}
        # The daemon asks several times a second for hundreds of folders: skip the per-file passes when
        # nothing can have changed. Time alone never makes a file ready (a fresh observation must), and no
        # check is due before the earliest target.
        self._changed = False
        self._wake: float | None = None  # earliest target among eligible entries; None: recompute
        self._due: float | None = None  # earliest target still waiting for an observation; None: recompute

    def _touch(self) -> None:
        self._changed, self._wake, self._due = True, None, None

    def retime(self, stable_seconds: float, cooldown: float) -> None:
        self.stable_seconds, self.cooldown = stable_seconds, cooldown
        self._touch()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def observe(self, path: Path, state: FileState | None, start: float, end: float | None = None) -> None:
        """Record what a stat found (None: gone). ``start``/``end`` bracket the stat in time: a new state
        counts from ``end``, a confirmation from ``start``; slow scans can delay readiness, not hasten it."""
        end = start if end is None else end
        self._touch()
        if state is None:
            self._entries.pop(path, None)
            return
        entry = self._entries.get(path)
        if entry is None or entry.state != state:
            self._entries[path] = _Entry(state, since=end, seen=end)
        else:
            entry.seen = max(entry.seen, start)

    def sync(self, present: Mapping[Path, FileState], start: float, end: float | None = None) -> None:
        """Apply a full listing: everything in it is observed, everything missing from it is forgotten."""
        for path in [p for p in self._entries if p not in present]:
            del self._entries[path]
        for path, state in present.items():
            self.observe(path, state, start, end)

    def clear(self) -> None:
        self._entries.clear()
        self._touch()

    def _target(self, entry: _Entry) -> float:
        target = entry.since + self.stable_seconds
        if entry.reported is not None:
            target = max(target, entry.reported + self.cooldown)
        return target

    def needs_check(self, now: float) -> list[Path]:
        """Paths whose waiting time is over but that were not seen since: stat these, then call ready()."""
        if self._wake is None:
            targets = (self._target(e) for e in self._entries.values() if e.state.eligible)
            self._wake = min(targets, default=math.inf)
        if now < self._wake:
            return []
        return [
            path
            for path, entry in self._entries.items()
            if entry.state.eligible and now >= self._target(entry) > entry.seen
        ]

    def next_check(self) -> float:
        """When needs_check() will first return something (``math.inf``: nothing waits for an observation).

        Entries that are already confirmed but not reported (e.g. their folder is down) do not count: only a
        fresh observation or ready() changes them, so a scheduler sleeping until this time never spins.
        """
        if self._due is None:
            due = math.inf
            for entry in self._entries.values():
                if entry.state.eligible and (target := self._target(entry)) > entry.seen:
                    due = min(due, target)
            self._due = due
        return self._due

    def changed(self) -> bool:
        """True when ready() may have something to report (an observation, retime or unreport since the last)."""
        return self._changed

    def ready(self, now: float) -> list[Path]:
        """Paths that are stable now, oldest first, each marked as reported at ``now``."""
        if not self._changed:
            return []
        self._changed, self._wake, self._due = False, None, None
        out: list[Path] = []
        for path, entry in self._entries.items():
            if entry.state.eligible and entry.seen >= self._target(entry):
                entry.reported = now
                out.append(path)
        # Oldest first (FIFO by mtime), so a burst is sent in the order it was written.
        return sorted(out, key=lambda p: self._entries[p].state.mtime_ns)

    def unreport(self, path: Path) -> None:
        """Let a reported path be reported again at the next ready() (the daemon could not take it yet)."""
        entry = self._entries.get(path)
        if entry is not None:
            entry.reported = None
            self._touch()

    def waiting(self) -> int:
        """Files seen but not reported yet (still changing, or not yet stable for long enough)."""
        return sum(1 for entry in self._entries.values() if entry.reported is None)
