"""When the watcher has work: a heap of per-folder due times, and the alarm that wakes the daemon's loop.

The daemon calls Watcher.ready() from its main loop. Without help that loop would have to walk every folder
several times a second to find the few with work, and every stability step would wait for its next tick.
Instead each folder has one due time (its next rescan, health stat, stability check or slow-probe deadline),
kept in a heap so that a call touches only the folders that are due; and an Alarm thread sets the daemon's
``wake`` event when an event hint or a finished probe needs attention, or when the earliest stability check
falls due, so the loop reacts within milliseconds instead of at its next 0.2 s tick.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class DueHeap(Generic[K]):
    """Keys with a due time; a key has at most one live due time (later set()s supersede earlier ones).

    Superseded heap entries are skipped lazily when they reach the top, so set() is O(log n) and pop_due()
    is O(k log n) for k due keys. Not thread-safe: the watcher's main-loop side owns it.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._when: dict[K, float] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._when)

    def set(self, key: K, when: float) -> None:
        """Make ``key`` due at ``when`` (``math.inf``: never; same as discard)."""
        if when == math.inf:
            self.discard(key)
            return
        if self._when.get(key) == when:
            return
        self._when[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        if len(self._heap) > 4 * len(self._when) + 64:  # many superseded entries: rebuild
            self._heap = [(w, next(self._seq), k) for k, w in self._when.items()]
            heapq.heapify(self._heap)

    def discard(self, key: K) -> None:
        self._when.pop(key, None)

    def when(self, key: K) -> float:
        return self._when.get(key, math.inf)

    def earliest(self) -> float:
        """The earliest live due time (``math.inf`` when nothing is scheduled)."""
        heap = self._heap
        while heap and self._when.get(heap[0][2]) != heap[0][0]:
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def pop_due(self, now: float) -> list[K]:
        """Remove and return every key due at or before ``now``, earliest first."""
        out: list[K] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            when, _, key = heapq.heappop(heap)
            if self._when.get(key) == when:
                del self._when[key]
                out.append(key)
        return out


class Alarm:
    """A thread that sets ``wake`` at a target time, or soon after a poke.

    poke() (an event hint arrived, a probe finished with news) sets ``wake`` at once unless it was set less
    than ``gap`` seconds ago, then as soon as the gap is over: a writer producing thousands of inotify events
    cannot spin the daemon's loop faster than 1/gap, and the last event of a burst is never lost. at() sets the
    time of the next stability check; it fires once. ``clock`` must run at the pace of real seconds.
    """

    def __init__(self, wake: threading.Event, clock: Callable[[], float], gap: float = 0.02) -> None:
        self._wake, self._clock, self._gap = wake, clock, gap
        self._cond = threading.Condition(threading.Lock())
        self._target = math.inf
        self._poked = False
        self._last = -math.inf
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="faxdropd-watch-alarm", daemon=True)
        self._thread.start()

    def at(self, when: float) -> None:
        with self._cond:
            if when != self._target:
                wake_up = when < self._target
                self._target = when
                if wake_up:
                    self._cond.notify()

    def poke(self) -> None:
        with self._cond:
            if not self._poked:
                self._poked = True
                self._cond.notify()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = self._clock()
                due = min(self._target, self._last + self._gap if self._poked else math.inf)
                if now >= due:
                    if self._target <= now:
                        self._target = math.inf
                    self._poked, self._last = False, now
                    self._wake.set()
                    continue
                self._cond.wait(None if due == math.inf else due - now)
