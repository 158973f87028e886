"""Intake: which files in the hot folders are complete and may be claimed. The only module importing watchdog.

Events are hints, scans are the truth (network shares give no events, inotify queues overflow):

* watchdog events only add paths to a pending set; each is then lstat'ed and fed to a StabilityTracker;
* every folder is listed in full at start, every ``rescan_interval``, after an inotify overflow and when it
  comes back from being down; polled folders (``watch: poll``, or ``auto`` on a network filesystem) are
  listed every ``poll_interval`` by a plain os.scandir loop instead of watchdog's PollingObserver, which keeps
  a full snapshot per folder in memory and stops for good when the directory vanishes (tech.md §3.2);
* a file is ready once two lstat()s at least ``stable_seconds`` apart agree on size, mtime_ns and inode.

All filesystem access runs on worker threads, never on the daemon's main loop: ready() starts probes, waits
at most a few milliseconds for them and applies finished ones, so a hung NFS mount can stall nothing but its
own folder. Split: watch_scan.py (specs, probes, the pool), watch_sched.py (due-time heap, the wake alarm),
watch_folders.py (per-folder state and the cycle), this module (inotify via watchdog, and the public API).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import structlog
from watchdog.events import (
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from faxdropd.watch.folders import FolderCycle, _Folder
from faxdropd.watch.scan import WATCH_MODES, FolderLike, Pool, Probe, Ready, WatchSpec, scan_once
from faxdropd.watch.schedule import Alarm
from faxdropd.watch.state import INLINE_WAIT, warn_fallbacks

__all__ = ["INOTIFY_LOGGER", "WATCH_MODES", "FolderLike", "Probe", "Ready", "WatchSpec", "Watcher", "scan_once"]

log = structlog.get_logger(__name__)

INOTIFY_LOGGER = "watchdog.observers.inotify_c"  # where watchdog 7.1 reports a queue overflow, and only there
# watchdog holds each IN_MOVED_FROM 0.5 s to pair it with its IN_MOVED_TO, in a FIFO that holds back every later
# event of the folder too: each claim (a rename into the unwatched .faxdropd/) delayed the next files' events by
# up to 0.5 s. Events are only hints and both names of a move are looked at, paired or not: nothing is lost.
MOVE_PAIRING_DELAY = 0.01
_Probe = Probe  # the name tests and older callers use
# The events that can be hints. Asked for by name, the kernel leaves out the rest: each of our own reads of a
# file (IN_OPEN, IN_CLOSE_NOWRITE) and each folder change (a DirModifiedEvent) cost three of watchdog's
# threads a wake-up to be ignored, four of the six events a fax caused (issue #19).
HINTED = (FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileMovedEvent, FileDeletedEvent,
          DirDeletedEvent, DirMovedEvent)  # fmt: skip


class _Hints(FileSystemEventHandler):
    """Turns events into "look at this path" hints. Overrides dispatch() itself and catches everything, since
    an exception escaping a handler kills watchdog's observer thread and with it every folder's events."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self._sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            if event.event_type in ("opened", "closed_no_write"):
                return
            if event.is_directory and event.event_type not in ("deleted", "moved"):
                return  # a DirModifiedEvent accompanies every create; the folder's own deletion matters
            for raw in (event.src_path, event.dest_path):  # moves: the new name, and the old one to forget
                if raw:
                    self._sink(os.fsdecode(raw))
        except Exception:
            log.exception("watch.event_failed", action="the next rescan covers it")


class _OverflowFlag(logging.Handler):
    """watchdog logs a queue overflow but delivers no event for it: the log record is the only signal."""

    def __init__(self, on_set: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.flag = threading.Event()
        self._on_set = on_set

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self.flag.set()
                self._on_set()
        except Exception:  # a logging handler must not raise into watchdog's thread either
            self.flag.set()


class Watcher(FolderCycle):
    """Watches hot folders; the daemon calls ready() from its main loop and claims what it returns.

    Call every method from that one thread; only watchdog's handler and the scan workers run elsewhere, and
    they only add hints, report finished probes and set ``wake``.

    ``wake``: an Event the watcher sets when ready() has something to do now — an event hint arrived, a probe
    finished with news (files seen, a folder problem), or the earliest stability check fell due — at most
    every 20 ms. The daemon waits on it (with its usual tick as the timeout) and should clear() it *before*
    calling ready(), so that a set during the call is not lost. A file closed at t is then reported at about
    t + stable_seconds + a few tens of ms. Without ``wake`` the watcher works as before, at the caller's pace.

    Returning a path again is harmless (claiming is an atomic rename) but rate-limited: a reported file comes
    back only after it changed and settled again, or after ``rescan_interval`` if a fresh lstat finds it.
    """

    def __init__(
        self, specs: Sequence[WatchSpec], *, clock: Callable[[], float] = time.monotonic,
        scan_timeout: float | None = None, wake: threading.Event | None = None,
    ) -> None:  # fmt: skip
        super().__init__(clock=clock, scan_timeout=scan_timeout, wake=wake)
        self._lock = threading.Lock()
        self._hints: set[str] = set()
        self._handler = _Hints(self._hint)
        self._overflow = _OverflowFlag(self._poke)
        self._observer: Any = None
        self._alive: set[Any] = set()  # watches whose emitter thread is running, as of _alive_at
        self._alive_at = -math.inf
        self._watched: dict[Any, Path] = {}  # scheduled watch -> its folder, to find the folders of dead ones
        self._fallbacks = 0  # folders that could not get an inotify watch during this cycle
        self.reload(specs)

    # -- public API ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching; returns after the first listing of every folder (or after a bound of 5 s)."""
        if self._running:
            raise RuntimeError("watcher already started")
        self._pool = Pool(min(16, max(2, len(self._folders))), self._clock)
        inotify_log = logging.getLogger(INOTIFY_LOGGER)
        inotify_log.addHandler(self._overflow)
        if not inotify_log.isEnabledFor(logging.WARNING):
            inotify_log.setLevel(logging.WARNING)  # the overflow warning is our only signal; do not filter it
        self._observer = self._new_observer()
        self._alive, self._alive_at = set(), -math.inf
        if self._wake is not None:
            self._alarm = Alarm(self._wake, self._clock)
        self._running = True
        self._cycle(self._clock())
        self._await([f.job for f in self._folders.values() if f.job is not None], 5.0)
        self._cycle(self._clock())  # apply first results: health, fs type, watches for event folders

    def stop(self) -> None:
        """Stop the observer (joining its threads), the scan workers and the wake alarm."""
        if not self._running:
            return
        self._running = False
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
        for folder in self._folders.values():
            folder.watch, folder.job = None, None
        self._watched.clear()
        if self._pool is not None:
            self._pool.close(timeout=2.0)  # a worker stuck on a dead mount is a daemon thread and is left
            self._pool = None
        if self._alarm is not None:
            self._alarm.stop()
            self._alarm = None
        logging.getLogger(INOTIFY_LOGGER).removeHandler(self._overflow)

    def ready(self, now: float | None = None) -> list[Ready]:
        """Files stable as of now: (folder name, path), oldest first per folder. Never blocks on I/O: waits
        at most INLINE_WAIT for the lstats it starts. Costs O(folders with work), not O(folders)."""
        if not self._running:
            return []
        fixed = now is not None
        now = self._clock() if now is None else now
        urgent = self._cycle(now)
        if urgent:
            self._await(urgent, INLINE_WAIT)
            now = now if fixed else self._clock()
            self._visit_due(now)  # applies the probes that finished (and only visits due folders)
        return self._collect(now)

    def alive(self) -> bool:
        """False when the watcher cannot do its work: stopped, its observer thread dead (ready() restarts it),
        or no scan worker left. The daemon withholds the systemd watchdog ping while this is False."""
        if not self._running or self._pool is None or not self._pool.alive():
            return False
        return self._observer is None or self._observer.is_alive()  # None: inotify unavailable, folders polled

    def pending_count(self) -> int:
        """Files seen but not reported yet (still being written or settling), plus unprocessed event hints."""
        with self._lock:
            hints = len(self._hints)
        return hints + sum(len(f.hints) + f.tracker.waiting() for f in self._folders.values())

    # -- the cycle ----------------------------------------------------------------------------------------

    def _poke(self) -> None:  # any thread
        if self._alarm is not None:
            self._alarm.poke()

    def _hint(self, path: str) -> None:  # called on watchdog's observer thread
        with self._lock:
            new = path not in self._hints
            self._hints.add(path)
        if new:
            self._poke()

    def _cycle(self, now: float) -> list[Any]:
        self._supervise_observer()
        with self._lock:
            hints, self._hints = self._hints, set()
        if self._overflow.flag.is_set():
            self._overflow.flag.clear()
            self._counts["overflows"] += 1
            log.warning("folder.overflow", action="rescanning every event-watched folder")
            for path, folder in self._folders.items():
                if folder.mode == "events":
                    folder.next_full = min(folder.next_full, now)
                    self._due.set(path, now)
        for raw in hints:
            self._route(Path(raw), now)
        self._find_dead_watches(now)
        self._check_mounts(now)
        urgent = self._visit_due(now)
        if self._fallbacks:
            warn_fallbacks(self._fallbacks)
            self._fallbacks = 0
        return urgent

    # -- watchdog -----------------------------------------------------------------------------------------

    def _new_observer(self) -> Any:
        # One Observer for every event folder: in watchdog 7.1 an InotifyObserver owns one inotify instance
        # that all its watches share, so 500 folders cost one of the 128 default instances (and 500 threads).
        try:
            from watchdog.observers import inotify_move_event_grouper as grouper  # Linux; read per watch group

            grouper.InotifyMoveEventGrouper.delay = min(grouper.InotifyMoveEventGrouper.delay, MOVE_PAIRING_DELAY)
        except (ImportError, AttributeError):  # another watchdog version or platform: keep its default
            log.debug("watch.move_delay_kept", exc_info=True)
        try:
            observer = Observer()
            observer.start()
        except OSError as exc:
            log.warning("watch.no_inotify", error=str(exc), action="event folders will be polled")
            return None
        return observer

    def _supervise_observer(self) -> None:
        if self._observer is None or self._observer.is_alive():
            return
        log.warning("watch.observer_died", action="restarting it and rescanning")
        self._observer = self._new_observer()
        self._alive, self._alive_at = set(), -math.inf
        self._watched.clear()
        for path, folder in self._folders.items():
            folder.watch = None
            self._due.set(path, -math.inf)

    def _find_dead_watches(self, now: float) -> None:
        # An emitter stops itself when its directory is deleted (and its watch is gone after an unmount);
        # such a folder needs its watch scheduled again, after which it is re-listed. Checking 500 emitters
        # costs ~3 ms, so at most once a second; _watch/_unwatch keep the set current in between.
        if self._observer is None or (self._alive_at <= now < self._alive_at + 1.0):
            return
        self._alive = {emitter.watch for emitter in list(self._observer.emitters) if emitter.is_alive()}
        self._alive_at = now
        for watch, path in self._watched.items():
            if watch not in self._alive:
                self._due.set(path, now)

    def _watching(self, folder: _Folder) -> bool:
        return folder.watch is not None and folder.watch in self._alive

    def _watch(self, folder: _Folder, now: float) -> None:
        self._unwatch(folder)
        if self._observer is None:
            self._fall_back(folder, now)
            return
        try:
            folder.watch = self._observer.schedule(
                self._handler, str(folder.spec.path), recursive=False, event_filter=HINTED
            )
            self._alive.add(folder.watch)
            self._watched[folder.watch] = folder.spec.path
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENOSPC, errno.ENOMEM):
                self._fall_back(folder, now)
            else:
                log.warning(
                    "watch.watch_failed",
                    path=str(folder.spec.path),
                    error=str(exc),
                    retry_in_s=folder.spec.poll_interval,
                )
                folder.watch_retry = now + folder.spec.poll_interval
            return
        folder.next_full = now  # list again now the watch exists: anything that arrived before it is caught

    def _unwatch(self, folder: _Folder) -> None:
        self._alive.discard(folder.watch)
        self._watched.pop(folder.watch, None)
        if folder.watch is not None and self._observer is not None:
            try:
                self._observer.unschedule(folder.watch)
            except Exception:  # already gone with its directory
                log.debug("watch.unschedule_failed", path=str(folder.spec.path), exc_info=True)
        folder.watch = None

    def _fall_back(self, folder: _Folder, now: float) -> None:
        folder.mode = "poll"
        folder.next_full = now  # from now on listed every poll_interval, starting at once
        self._fallbacks += 1
        self._counts["polling_fallbacks"] += 1
