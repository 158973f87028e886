"""Per-folder state and the cycle that drives it: which folder is due, which probe to start, what a finished
probe means (up, down, back, recreated), and what is ready. No watchdog: watcher.py adds the inotify side
(Watcher subclasses FolderCycle and implements the _watch/_unwatch/_watching hooks).

Cost: a call touches only the folders that are due (DueHeap), whose probe just finished, or that got an event
hint, so 500 idle folders cost nothing between their rescans and health stats.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from faxdropd.watch import mounts
from faxdropd.watch.scan import ContentCache, Job, Pool, Probe, Ready, WatchSpec, probe
from faxdropd.watch.schedule import Alarm, DueHeap
from faxdropd.watch.stability import StabilityTracker, is_wanted
from faxdropd.watch.state import INLINE_WAIT, MOUNT_CHECK, Folder

_Folder = Folder  # the name watcher.py's hooks use


class FolderCycle:
    """The watcher minus watchdog. Main-loop methods run on the daemon's thread; pool threads only report
    finished probes through ``_finished`` (and wake the daemon through the Alarm)."""

    def __init__(self, *, clock: Callable[[], float], scan_timeout: float | None, wake: threading.Event | None) -> None:
        self._clock = clock
        self._scan_timeout = scan_timeout  # None: max(10 s, 5 x poll_interval) per folder
        self._wake = wake
        self._alarm: Alarm | None = None
        self._folders: dict[Path, _Folder] = {}
        self._pool: Pool | None = None
        self._running = False
        self._due: DueHeap[Path] = DueHeap()  # folder path -> when it next needs a visit
        self._checks: DueHeap[Path] = DueHeap()  # folder path -> its next stability check (what the alarm waits for)
        self._finished: queue.SimpleQueue[Path] = queue.SimpleQueue()  # folders whose probe just finished
        self._done = threading.Condition(threading.Lock())  # notified when any probe finishes
        self._dirty: dict[Path, None] = {}  # folders whose tracker may have something to report
        self._health: dict[str, bool] | None = None  # cached health(); None: recompute
        self._counts = {"full_scans": 0, "probes": 0, "overflows": 0, "polling_fallbacks": 0}
        self._mounts, self._mounts_at, self._mounts_every = b"", -math.inf, MOUNT_CHECK  # see _check_mounts
        self._table: list[mounts.Mount] = []  # the mount table as of self._mounts

    # -- hooks implemented by watcher.py (inotify) ---------------------------------------------------------

    def _watch(self, folder: _Folder, now: float) -> None:
        raise NotImplementedError

    def _unwatch(self, folder: _Folder) -> None:
        raise NotImplementedError

    def _watching(self, folder: _Folder) -> bool:
        raise NotImplementedError

    # -- public API (see Watcher) --------------------------------------------------------------------------

    def reload(self, specs: Sequence[WatchSpec]) -> None:
        """Add, remove and update folders live. Folders whose settings changed get a full rescan."""
        wanted: dict[Path, WatchSpec] = {}
        for spec in specs:
            if spec.path in wanted:
                raise ValueError(f"folder {spec.path} is configured twice")
            wanted[spec.path] = spec
        for path in [p for p in self._folders if p not in wanted]:
            self._unwatch(self._folders.pop(path))
            self._due.discard(path)
            self._checks.discard(path)
            self._dirty.pop(path, None)
        for path, spec in wanted.items():
            folder = self._folders.get(path)
            if folder is None:
                tracker = StabilityTracker(spec.stable_seconds, spec.rescan_interval, spec.incomplete_grace)
                self._folders[path] = Folder(spec, tracker, spec.watch)
            elif folder.spec != spec:
                if folder.spec.watch != spec.watch:
                    self._unwatch(folder)
                    folder.mode = spec.watch
                folder.spec = spec
                folder.names = {}  # the names' verdicts were the old patterns'; a running probe keeps its own
                folder.tracker.retime(spec.stable_seconds, spec.rescan_interval, spec.incomplete_grace)
                folder.next_full = 0.0  # patterns may have changed: re-list; sync drops what is now unwanted
                self._dirty[path] = None
            else:
                continue
            self._due.set(path, -math.inf)
        self._health = None
        self._mounts_every = min([MOUNT_CHECK, *(spec.poll_interval for spec in specs)])

    def offer_again(self, path: Path) -> None:
        """Return ``path`` again at the next ready() instead of after the cooldown, e.g. when the daemon
        stopped taking files for back-pressure before it reached this one. No effect on untracked paths."""
        folder = self._folders.get(Path(path).parent)
        if folder is not None:
            folder.tracker.unreport(Path(path))
            self._dirty[folder.spec.path] = None

    def health(self) -> dict[str, bool]:
        """Folder name -> usable. A down folder is not scanned (never taken as empty) until it comes back."""
        if self._health is None:
            out: dict[str, bool] = {}
            for folder in self._folders.values():
                out[folder.spec.name] = out.get(folder.spec.name, True) and folder.up and not folder.slow
            self._health = out
        return dict(self._health)

    def problems(self) -> dict[str, str]:
        """Folder name -> why it is down, for folders that are down."""
        return {f.spec.name: f.problem for f in self._folders.values() if not f.up or f.slow}

    def modes(self) -> dict[str, str]:
        """Folder name -> "events" or "poll" ("auto" until the filesystem type is known)."""
        return {f.spec.name: f.mode for f in self._folders.values()}

    def stats(self) -> dict[str, int]:
        """Counters for metrics: full_scans, probes, overflows, polling_fallbacks."""
        return dict(self._counts)

    # -- the cycle ----------------------------------------------------------------------------------------

    def _route(self, path: Path, now: float) -> None:
        folder = self._folders.get(path)
        if folder is not None:  # the folder itself was deleted or moved: check its health now
            folder.next_health = now
            if folder.job is not None:
                folder.job.eager = True
            self._due.set(path, now)
            return
        folder = self._folders.get(path.parent)
        if folder is not None and folder.up and is_wanted(path.name, folder.spec.include, folder.spec.ignore):
            folder.hints.add(path)
            if folder.job is not None:
                folder.job.eager = True  # its completion must wake the daemon: this hint waits for it
            self._due.set(folder.spec.path, now)

    def _check_mounts(self, now: float) -> None:
        # inotify does not report a lazy unmount (`umount -l`: its own watch keeps the filesystem busy), and
        # event folders get a health stat only every HEALTH_INTERVAL. So compare the mount table (reading /proc
        # touches no folder) every min(1 s, poll_interval) and probe every folder at once when it changed.
        if self._mounts_at <= now < self._mounts_at + self._mounts_every:
            return
        self._mounts_at, raw = now, mounts.mountinfo_bytes()
        if raw == self._mounts:
            return
        self._mounts, self._table = raw, mounts.parse_mountinfo(raw.decode("utf-8", "surrogateescape"))
        for path, folder in self._folders.items():
            if folder.up:
                folder.next_health = min(folder.next_health, now)
                self._due.set(path, min(self._due.when(path), now))

    def _mount_table(self) -> list[mounts.Mount]:
        # Parsed when _check_mounts saw the table change; a change triggers a probe of every folder with it.
        if not self._mounts:  # not checked yet (or no mountinfo): read it now
            self._mounts_at = -math.inf
            self._check_mounts(self._clock())
        return self._table

    def _visit_due(self, now: float) -> list[Job]:
        """Visit the folders whose probe finished or that are due; return the probes started for hints and
        stability checks (ready() waits a moment for those)."""
        visit: dict[Path, None] = {}
        while True:
            try:
                visit[self._finished.get_nowait()] = None
            except queue.Empty:
                break
        visit.update(dict.fromkeys(self._due.pop_due(now)))
        table = self._mount_table
        urgent: list[Job] = []
        for path in visit:
            folder = self._folders.get(path)
            if folder is not None and (job := self._visit(folder, now, table)) is not None:
                urgent.append(job)
        return urgent

    def _visit(self, folder: _Folder, now: float, table: Callable[[], list[mounts.Mount]]) -> Job | None:
        job, started = folder.job, None
        if job is not None and not job.done:
            self._check_slow(folder)
        else:
            if job is not None:
                self._apply(folder, job, now)
            events = folder.up and folder.mode == "events" and folder.identity is not None
            if events and not self._watching(folder) and now >= folder.watch_retry:
                self._watch(folder, now)
            started = self._submit(folder, now, table)
        self._schedule(folder, now)
        return started

    def _schedule(self, folder: _Folder, now: float) -> None:
        check, job = math.inf, folder.job
        if job is not None:  # its completion triggers a visit; until then only the slow bound can be due
            due = math.inf if folder.slow else (job.started or now) + self._bound(folder)
        elif not folder.up:
            due = folder.next_health
        else:
            check = folder.tracker.next_check()
            due = min(folder.next_full, folder.next_health, check, now if folder.hints else math.inf)
            if folder.mode == "events" and folder.identity is not None and not self._watching(folder):
                due = min(due, folder.watch_retry)
        self._due.set(folder.spec.path, due)
        self._checks.set(folder.spec.path, check)

    def _submit(self, folder: _Folder, now: float, table: Callable[[], list[mounts.Mount]]) -> Job | None:
        # Polled folders are listed every poll_interval, event folders every rescan_interval, and in between
        # get a cheap health stat (see watch_state.HEALTH_INTERVAL). A down folder is only probed, every poll_interval,
        # with a full listing so that its return is followed by a rescan at once.
        spec, pool = folder.spec, self._pool
        if pool is None:
            return None
        if folder.up:
            full = now >= folder.next_full
            paths = sorted(folder.hints | set(folder.tracker.needs_check(now)))
            if not (full or paths or now >= folder.next_health):
                return None
        elif now >= folder.next_health:
            full, paths = True, []
        else:
            return None
        folder.hints.clear()
        if full:
            folder.next_full = now + (spec.poll_interval if folder.mode == "poll" else spec.rescan_interval)
        folder.next_health = now + folder.health_interval()
        self._counts["probes"] += 1
        mount, tbl = folder.mount, table()
        # Wake the daemon when it finishes if it may change what is reported or the folder's health.
        eager = not folder.up or folder.identity is None or folder.tracker.next_check() < math.inf
        done = functools.partial(self._probe_finished, spec.path)
        names, content = folder.names, folder.content
        run = functools.partial(self._run_probe, spec, full, paths, mount, tbl, names, content)
        folder.job = Job(run, full, done, eager)
        pool.submit(folder.job)
        return folder.job if paths and folder.up else None

    def _run_probe(
        self,
        spec: WatchSpec,
        full: bool,
        paths: list[Path],
        mount: str,
        table: list[mounts.Mount],
        names: dict[str, Path | None] | None = None,
        content: ContentCache | None = None,
    ) -> Probe:  # runs on a scan worker; a seam for tests that need a folder to hang
        return probe(spec, full, paths, mount, table, self._clock, names, content)

    def _probe_finished(self, path: Path, job: Job) -> None:  # runs on the scan worker that ran the probe
        self._finished.put(path)
        with self._done:
            self._done.notify_all()
        if self._alarm is not None and (job.eager or job.result is None or job.result.newsworthy()):
            self._alarm.poke()

    def _await(self, jobs: Sequence[Job], timeout: float) -> None:
        with self._done:
            self._done.wait_for(lambda: all(job.done for job in jobs), timeout)

    def _bound(self, folder: _Folder) -> float:
        return self._scan_timeout or max(10.0, folder.spec.poll_interval * 5)

    def _check_slow(self, folder: _Folder) -> None:
        job, bound = folder.job, self._bound(folder)
        if job is None or job.started is None or folder.slow or self._clock() - job.started <= bound:
            return
        folder.slow = True
        if self._pool is not None:
            self._pool.replace(job)
        self._down(folder, f"a scan has not returned after {bound:g} s (hung network mount?)")

    def _apply(self, folder: _Folder, job: Job, now: float) -> None:
        result = job.result
        folder.job, folder.slow = None, False
        quiet = result is not None and result.listing is None and not result.newsworthy()
        if quiet and folder.up and result is not None and result.identity == folder.identity:
            return  # a quiet health stat of a healthy folder: nothing changed
        self._dirty[folder.spec.path] = None
        self._health = None
        if result is None or result.problem:
            folder.down(result.problem if result else f"scan failed: {job.error!r}")
            # A down folder is probed every poll_interval (not the longer health interval of event folders).
            folder.next_health = min(folder.next_health, (result.start if result else now) + folder.spec.poll_interval)
            self._unwatch(folder)  # its inotify watch died with the directory; re-established when it is back
            return
        if folder.take(result, now):
            self._unwatch(folder)
        if result.listing is not None:
            self._counts["full_scans"] += 1

    def _down(self, folder: _Folder, problem: str) -> None:
        folder.down(problem)
        self._health = None

    def _collect(self, now: float) -> list[Ready]:
        """What the folders whose trackers changed have to report; reschedules them (reported files move to
        their cooldown), then arms the alarm for the earliest stability check."""
        out: list[Ready] = []
        dirty, self._dirty = self._dirty, {}
        for path in dirty:
            folder = self._folders.get(path)
            if folder is not None and folder.up and not folder.slow:
                out.extend(Ready(folder.spec.name, p) for p in folder.tracker.ready(now))
                self._schedule(folder, now)
        if self._alarm is not None:
            # Never in the past (a past target would wake the loop at every call); due checks were just visited.
            self._alarm.at(max(self._checks.earliest(), now + INLINE_WAIT))
        return out
