"""Pure decisions of intake: which names a folder takes, and when a file has stopped changing.

No I/O here (the watcher feeds observations in), so every rule is testable with made-up times.
"""

from __future__ import annotations

import fnmatch
import functools
import heapq
import itertools
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from faxdropd.files.names import is_sidecar

# Always ignored, whatever the config says: editor/office lock and temp files, half-finished downloads,
# hidden files, and the droppings of Windows, macOS and Synology NAS shares (as Paperless-ngx's list).
DEFAULT_IGNORE: tuple[str, ...] = (
    "~$*", "*.tmp", "*.part", ".*", "Thumbs.db", "desktop.ini", ".DS_Store", "._*", "@eaDir",
)  # fmt: skip


def matches(name: str, patterns: Iterable[str]) -> bool:
    """True when the bare file name matches any glob, case-insensitively ("*.PDF" takes "scan.pdf").

    fnmatch on the name, not watchdog's PurePath.full_match (where "*.pdf" matches no absolute path).
    """
    return _matcher(tuple(patterns))(name.casefold()) is not None


@functools.lru_cache(maxsize=512)
def _matcher(patterns: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    # One alternation of fnmatch's own translations: a polled folder of 10,000 names is filtered every
    # poll_interval, and one regex per name is ~10x cheaper than one fnmatchcase per pattern.
    if not patterns:
        return lambda _name: None
    return re.compile("|".join(fnmatch.translate(pattern.casefold()) for pattern in patterns)).match


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
    # Why the content looks unfinished ("" = looks complete), from document.completeness via the probe:
    # a state, so a file that completes later (new size/mtime anyway) is a new observation.
    incomplete: str = ""

    @classmethod
    def from_stat(cls, st: os.stat_result) -> FileState:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino, stat.S_ISREG(st.st_mode))

    @property
    def unfinished(self) -> bool:
        """Waits ``incomplete_grace`` rather than ``stable_seconds``: an empty placeholder (a writer that has
        not written yet; symlinks, FIFOs and devices count whatever their size, so pre-flight rejects them
        soon) or content that looks cut off (a scanner pausing mid-file, a pre-allocated tail of zeros)."""
        return bool(self.incomplete) or (self.regular and self.size == 0)


@dataclass
class _Entry:
    state: FileState
    since: float  # first observation of this state
    seen: float  # latest observation of this state
    reported: float | None = None
    key: int = -1  # the live item of this entry in StabilityTracker._heap; older items are stale


class StabilityTracker:
    """Per-folder memory of (size, mtime_ns, inode) observations.

    A path is ready when two observations at least ``stable_seconds`` apart found the same state. After being
    reported it is reported again only if it changes (and settles again), or if a fresh observation made at
    least ``cooldown`` seconds later still finds it: that repeats a claim that failed without a hot loop.

    Costs do not grow with the number of files tracked: the daemon asks after every loop pass, and a burst of
    10,000 files made each pass walk all of them (quadratic). A path's target time (when it may be ready)
    changes only when it is observed in a new state, reported, unreported or retimed, and it can become ready
    only through an observation; so ready() looks only at paths touched since the last call, and the
    targets still waiting for an observation sit in a heap (stale items are skipped when they surface).
    """

    def __init__(self, stable_seconds: float, cooldown: float, incomplete_grace: float = 300.0) -> None:
        self.stable_seconds = stable_seconds
        self.cooldown = cooldown
        self.incomplete_grace = incomplete_grace
        self._entries: dict[Path, _Entry] = {}
        self._touched: set[Path] = set()  # may be ready now: observed, unreported or retimed since ready()
        self._heap: list[tuple[float, int, Path]] = []  # (target, key, path)
        self._keys = itertools.count()

    def retime(self, stable_seconds: float, cooldown: float, incomplete_grace: float | None = None) -> None:
        self.stable_seconds, self.cooldown = stable_seconds, cooldown
        if incomplete_grace is not None:
            self.incomplete_grace = incomplete_grace
        self._heap.clear()
        for path, entry in self._entries.items():
            self._push(path, entry)
        self._touched.update(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, path: object) -> bool:
        return path in self._entries

    def _target(self, entry: _Entry) -> float:
        # Unfinished content waits until it completes (a new state) or stays as it is for incomplete_grace;
        # then pre-flight decides (an empty or genuinely broken file is filed in failed/ with its reason).
        wait = self.stable_seconds
        if entry.state.unfinished:
            wait = max(wait, self.incomplete_grace)
        target = entry.since + wait
        if entry.reported is not None:
            target = max(target, entry.reported + self.cooldown)
        return target

    def _push(self, path: Path, entry: _Entry) -> None:
        entry.key = next(self._keys)
        heapq.heappush(self._heap, (self._target(entry), entry.key, path))

    def _waiting(self, item: tuple[float, int, Path]) -> _Entry | None:
        """The entry behind a heap item if that item is live and still waits for an observation."""
        target, key, path = item
        entry = self._entries.get(path)
        if entry is None or entry.key != key or target <= entry.seen:
            return None
        return entry

    def observe(self, path: Path, state: FileState | None, start: float, end: float | None = None) -> None:
        """Record what a stat found (None: gone). ``start``/``end`` bracket the stat in time: a new state
        counts from ``end``, a confirmation from ``start``; slow scans can delay readiness, not hasten it."""
        end = start if end is None else end
        if state is None:
            self._entries.pop(path, None)
            self._touched.discard(path)
            return
        entry = self._entries.get(path)
        if entry is None or entry.state != state:
            entry = self._entries[path] = _Entry(state, since=end, seen=end)
            self._push(path, entry)
        else:
            entry.seen = max(entry.seen, start)
        self._touched.add(path)

    def sync(self, present: Mapping[Path, FileState], start: float, end: float | None = None) -> None:
        """Apply a full listing: everything in it is observed, everything missing from it is forgotten."""
        for path in [p for p in self._entries if p not in present]:
            del self._entries[path]
            self._touched.discard(path)
        for path, state in present.items():
            self.observe(path, state, start, end)

    def clear(self) -> None:
        self._entries.clear()
        self._touched.clear()
        self._heap.clear()

    def needs_check(self, now: float) -> list[Path]:
        """Paths whose waiting time is over but that were not seen since: stat these, then call ready()."""
        due: list[tuple[float, int, Path]] = []
        while self._heap and self._heap[0][0] <= now:
            item = heapq.heappop(self._heap)
            if self._waiting(item) is not None:
                due.append(item)
        for item in due:  # still due until an observation confirms them
            heapq.heappush(self._heap, item)
        return [path for _, _, path in due]

    def next_check(self) -> float:
        """When needs_check() will first return something (``math.inf``: nothing waits for an observation).

        Entries that are already confirmed but not reported (e.g. their folder is down) do not count: only a
        fresh observation or ready() changes them, so a scheduler sleeping until this time never spins.
        """
        while self._heap:
            if self._waiting(self._heap[0]) is not None:
                return self._heap[0][0]
            heapq.heappop(self._heap)
        return math.inf

    def changed(self) -> bool:
        """True when ready() may have something to report (an observation, retime or unreport since the last)."""
        return bool(self._touched)

    def ready(self, now: float) -> list[Path]:
        """Paths that are stable now, oldest first, each marked as reported at ``now``."""
        out: list[Path] = []
        for path in self._touched:
            entry = self._entries[path]
            if entry.seen >= self._target(entry):
                entry.reported = now
                self._push(path, entry)  # its cooldown target
                out.append(path)
        self._touched.clear()
        # Oldest first (FIFO by mtime), so a burst is sent in the order it was written.
        return sorted(out, key=lambda p: (self._entries[p].state.mtime_ns, p))

    def unreport(self, path: Path) -> None:
        """Let a reported path be reported again at the next ready() (the daemon could not take it yet)."""
        entry = self._entries.get(path)
        if entry is not None:
            entry.reported = None
            self._push(path, entry)
            self._touched.add(path)

    def waiting(self) -> int:
        """Files seen but not reported yet (still changing, or not yet stable for long enough)."""
        return sum(1 for entry in self._entries.values() if entry.reported is None)
