"""Intake: which files in the hot folders are complete and may be claimed. The only module importing watchdog.

Events are hints, scans are the truth (network shares give no events, inotify queues overflow):

* watchdog events only add paths to a pending set; each is then lstat'ed and fed to a StabilityTracker;
* every folder is listed in full at start, every ``rescan_interval``, after an inotify overflow and when it
  comes back from being down; polled folders (``watch: poll``, or ``auto`` on a network filesystem) are
  listed every ``poll_interval`` by a plain os.scandir loop instead of watchdog's PollingObserver, which keeps
  a full snapshot per folder in memory and stops for good when the directory vanishes (tech.md §3.2);
* a file is ready once two lstat()s at least ``stable_seconds`` apart agree on size, mtime_ns and inode.

All filesystem access runs on worker threads, never on the daemon's main loop: ready() only starts probes and
applies finished ones, so a hung NFS mount can stall nothing but its own folder (see _Pool).
"""

from __future__ import annotations

import errno
import logging
import math
import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from faxdropd import mounts
from faxdropd.stability import FileState, StabilityTracker, is_sidecar, is_wanted

log = logging.getLogger(__name__)

INOTIFY_LOGGER = "watchdog.observers.inotify_c"  # where watchdog 7.1 reports a queue overflow, and only there
WATCH_MODES = ("auto", "events", "poll")


class FolderLike(Protocol):
    """What WatchSpec.from_folder reads from a config FolderConfig (read-only attributes)."""

    @property
    def path(self) -> Path: ...
    @property
    def name(self) -> str: ...
    @property
    def watch(self) -> str: ...
    @property
    def poll_interval(self) -> float: ...
    @property
    def rescan_interval(self) -> float: ...
    @property
    def stable_seconds(self) -> float: ...
    @property
    def include(self) -> Sequence[str]: ...
    @property
    def ignore(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class WatchSpec:
    """One hot folder as the watcher sees it. Durations in seconds."""

    path: Path
    name: str
    watch: str = "auto"
    poll_interval: float = 2.0
    rescan_interval: float = 60.0
    stable_seconds: float = 5.0
    include: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.watch not in WATCH_MODES:
            raise ValueError(f"{self.name}: watch must be one of {'/'.join(WATCH_MODES)}, not {self.watch!r}")
        if self.poll_interval <= 0 or self.rescan_interval <= 0 or self.stable_seconds < 0:
            raise ValueError(f"{self.name}: poll/rescan intervals must be > 0 and stable_seconds >= 0")
        # abspath, not realpath: watchdog reports paths under the name it was given, and resolving could hang.
        object.__setattr__(self, "path", Path(os.path.abspath(self.path)))  # noqa: PTH100

    @classmethod
    def from_folder(cls, folder: FolderLike) -> WatchSpec:
        return cls(
            path=Path(folder.path), name=folder.name, watch=str(folder.watch),
            poll_interval=float(folder.poll_interval), rescan_interval=float(folder.rescan_interval),
            stable_seconds=float(folder.stable_seconds),
            include=list(folder.include), ignore=list(folder.ignore),
        )  # fmt: skip


class Ready(NamedTuple):
    """A stable file: (folder name, path). ``is_sidecar`` flags ``<document>.fax.yaml`` control files."""

    folder: str
    path: Path

    @property
    def is_sidecar(self) -> bool:
        return is_sidecar(self.path.name)


def _lstat(path: Path) -> FileState | None:
    try:
        st = os.lstat(path)  # never follow: a symlink is reported as itself so pre-flight can reject it
    except OSError:
        return None  # gone (claimed, deleted): forget it; if it is still there the next listing finds it
    return None if stat.S_ISDIR(st.st_mode) else FileState.from_stat(st)


def _list(spec: WatchSpec) -> dict[Path, FileState]:
    found: dict[Path, FileState] = {}
    with os.scandir(spec.path) as entries:
        for entry in entries:
            try:
                # Top level only; work/sent/failed are directories. Non-directories of any kind are reported.
                if entry.is_dir(follow_symlinks=False):
                    continue
                if not is_wanted(entry.name, spec.include, spec.ignore):
                    continue
                found[spec.path / entry.name] = FileState.from_stat(entry.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue  # vanished between readdir and lstat
    return found


def scan_once(spec: WatchSpec) -> list[Path]:
    """The files the folder would take now, ignoring stability (for `faxdropd explain`). Raises OSError."""
    return sorted(_list(spec))


@dataclass
class _Probe:
    """What one visit to a folder found. ``problem`` non-empty means the folder is down."""

    start: float
    end: float = 0.0
    problem: str = ""
    identity: tuple[int, int] | None = None
    mount: str = ""
    fstype: str = ""
    listing: dict[Path, FileState] | None = None
    stats: dict[Path, FileState | None] = field(default_factory=dict)


def _probe(
    spec: WatchSpec, full: bool, paths: list[Path], expected_mount: str, table: list[mounts.Mount],
    clock: Callable[[], float],
) -> _Probe:  # fmt: skip
    result = _Probe(start=clock())
    try:
        st = spec.path.stat()
        found = mounts.find_mount(spec.path, table)
        result.mount, result.fstype = (found.mount_point, found.fstype) if found else ("/", "")
        if not stat.S_ISDIR(st.st_mode):
            result.problem = "not a directory"
        elif expected_mount not in ("", "/") and result.mount != expected_mount:
            # The share went away and the path now lands on the filesystem below: an empty listing there must
            # not be mistaken for an empty inbox.
            result.problem = f"its filesystem {expected_mount} is no longer mounted"
        else:
            result.identity = (st.st_dev, st.st_ino)
            result.listing = _list(spec) if full else None
            result.stats = {path: _lstat(path) for path in paths}
    except FileNotFoundError:
        result.problem = "missing"
    except OSError as exc:
        result.problem = exc.strerror or str(exc)
    result.end = clock()
    return result


class _Job:
    def __init__(self, fn: Callable[[], _Probe], full: bool) -> None:
        self.fn, self.full = fn, full
        self.started: float | None = None
        self.done = self.stuck = False
        self.result: _Probe | None = None
        self.error: Exception | None = None

    def run(self, clock: Callable[[], float]) -> None:
        self.started = clock()
        try:
            self.result = self.fn()
        except Exception as exc:
            self.error = exc
        finally:
            self.done = True


class _Pool:
    """Daemon threads that run folder probes, at most one in flight per folder.

    Time bound: ready() never waits for a probe; it only polls ``job.done``. A probe running longer than the
    folder's bound marks the folder down/slow, and replace() starts one more worker so a thread stuck in an
    uninterruptible NFS call cannot shrink the pool; when that call finally returns, its thread exits. No
    probe is queued for a folder while its previous one is out, so a dead mount is skipped until it answers.
    Daemon threads (not ThreadPoolExecutor, whose threads are joined at exit) so a hung stat cannot block
    the process from exiting.
    """

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._clock = clock
        self._threads: list[threading.Thread] = []
        for _ in range(size):
            self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name="faxdropd-scan", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job.run(self._clock)
            with self._lock:
                if job.stuck:
                    return  # a replacement took this thread's place while it hung

    def submit(self, fn: Callable[[], _Probe], full: bool) -> _Job:
        job = _Job(fn, full)
        self._queue.put(job)
        return job

    def replace(self, job: _Job) -> None:
        with self._lock:
            if not (job.done or job.stuck):
                job.stuck = True
                self._spawn()

    def alive(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def close(self, timeout: float) -> None:
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))


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
            log.exception("watch event handling failed; the next rescan covers it")


class _OverflowFlag(logging.Handler):
    """watchdog logs a queue overflow but delivers no event for it: the log record is the only signal."""

    def __init__(self) -> None:
        super().__init__()
        self.flag = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if "overflow" in record.getMessage().lower():
                self.flag.set()
        except Exception:  # a logging handler must not raise into watchdog's thread either
            self.flag.set()


@dataclass
class _Folder:
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
    job: _Job | None = None
    next_full: float = 0.0
    next_health: float = 0.0
    watch_retry: float = 0.0


class Watcher:
    """Watches hot folders; the daemon calls ready() from its main loop (~0.2 s) and claims what it returns.

    Call every method from that one thread; only watchdog's handler runs elsewhere, and it only adds hints.

    Returning a path again is harmless (claiming is an atomic rename) but rate-limited: a reported file comes
    back only after it changed and settled again, or after ``rescan_interval`` if a fresh lstat finds it.
    """

    def __init__(
        self, specs: Sequence[WatchSpec], *, clock: Callable[[], float] = time.monotonic,
        scan_timeout: float | None = None,
    ) -> None:  # fmt: skip
        self._clock = clock
        self._scan_timeout = scan_timeout  # None: max(10 s, 5 x poll_interval) per folder
        self._folders: dict[Path, _Folder] = {}
        self._lock = threading.Lock()
        self._hints: set[str] = set()
        self._handler = _Hints(self._hint)
        self._overflow = _OverflowFlag()
        self._observer: Any = None
        self._alive: set[Any] = set()  # watches whose emitter thread is running, as of _alive_at
        self._alive_at = -math.inf
        self._pool: _Pool | None = None
        self._running = False
        self._fallbacks = 0  # folders that could not get an inotify watch during this cycle
        self._counts = {"full_scans": 0, "probes": 0, "overflows": 0, "polling_fallbacks": 0}
        self.reload(specs)

    # -- public API ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start watching; returns after the first listing of every folder (or after a bound of 5 s)."""
        if self._running:
            raise RuntimeError("watcher already started")
        self._pool = _Pool(min(16, max(2, len(self._folders))), self._clock)
        inotify_log = logging.getLogger(INOTIFY_LOGGER)
        inotify_log.addHandler(self._overflow)
        if not inotify_log.isEnabledFor(logging.WARNING):
            inotify_log.setLevel(logging.WARNING)  # the overflow warning is our only signal; do not filter it
        self._observer = self._new_observer()
        self._alive, self._alive_at = set(), -math.inf
        self._running = True
        self._cycle(self._clock())
        deadline = self._clock() + 5.0
        while self._clock() < deadline and any(f.job and not f.job.done for f in self._folders.values()):
            time.sleep(0.01)
        self._cycle(self._clock())  # apply first results: health, fs type, watches for event folders

    def stop(self) -> None:
        """Stop the observer (joining its threads) and the scan workers."""
        if not self._running:
            return
        self._running = False
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)
            self._observer = None
        for folder in self._folders.values():
            folder.watch, folder.job = None, None
        if self._pool is not None:
            self._pool.close(timeout=2.0)  # a worker stuck on a dead mount is a daemon thread and is left
            self._pool = None
        logging.getLogger(INOTIFY_LOGGER).removeHandler(self._overflow)

    def reload(self, specs: Sequence[WatchSpec]) -> None:
        """Add, remove and update folders live. Folders whose settings changed get a full rescan."""
        wanted: dict[Path, WatchSpec] = {}
        for spec in specs:
            if spec.path in wanted:
                raise ValueError(f"folder {spec.path} is configured twice")
            wanted[spec.path] = spec
        for path in [p for p in self._folders if p not in wanted]:
            self._unwatch(self._folders.pop(path))
        for path, spec in wanted.items():
            folder = self._folders.get(path)
            if folder is None:
                tracker = StabilityTracker(spec.stable_seconds, spec.rescan_interval)
                self._folders[path] = _Folder(spec, tracker, spec.watch)
            elif folder.spec != spec:
                if folder.spec.watch != spec.watch:
                    self._unwatch(folder)
                    folder.mode = spec.watch
                folder.spec = spec
                folder.tracker.retime(spec.stable_seconds, spec.rescan_interval)
                folder.next_full = 0.0  # patterns may have changed: re-list; sync drops what is now unwanted

    def ready(self, now: float | None = None) -> list[Ready]:
        """Files stable as of now: (folder name, path), oldest first per folder. Never blocks on I/O."""
        if not self._running:
            return []
        now = self._clock() if now is None else now
        self._cycle(now)
        out: list[Ready] = []
        for folder in self._folders.values():
            if folder.up and not folder.slow:
                out.extend(Ready(folder.spec.name, path) for path in folder.tracker.ready(now))
        return out

    def offer_again(self, path: Path) -> None:
        """Return ``path`` again at the next ready() instead of after the cooldown, e.g. when the daemon
        stopped taking files for back-pressure before it reached this one. No effect on untracked paths."""
        folder = self._folders.get(Path(path).parent)
        if folder is not None:
            folder.tracker.unreport(Path(path))

    def health(self) -> dict[str, bool]:
        """Folder name -> usable. A down folder is not scanned (never taken as empty) until it comes back."""
        out: dict[str, bool] = {}
        for folder in self._folders.values():
            ok = folder.up and not folder.slow
            out[folder.spec.name] = out.get(folder.spec.name, True) and ok
        return out

    def alive(self) -> bool:
        """False when the watcher cannot do its work: stopped, its observer thread dead (ready() restarts it),
        or no scan worker left. The daemon withholds the systemd watchdog ping while this is False."""
        if not self._running or self._pool is None or not self._pool.alive():
            return False
        return self._observer is None or self._observer.is_alive()  # None: inotify unavailable, folders polled

    def problems(self) -> dict[str, str]:
        """Folder name -> why it is down, for folders that are down."""
        return {f.spec.name: f.problem for f in self._folders.values() if not f.up or f.slow}

    def modes(self) -> dict[str, str]:
        """Folder name -> "events" or "poll" ("auto" until the filesystem type is known)."""
        return {f.spec.name: f.mode for f in self._folders.values()}

    def pending_count(self) -> int:
        """Files seen but not reported yet (still being written or settling), plus unprocessed event hints."""
        with self._lock:
            hints = len(self._hints)
        return hints + sum(len(f.hints) + f.tracker.waiting() for f in self._folders.values())

    def stats(self) -> dict[str, int]:
        """Counters for metrics: full_scans, probes, overflows, polling_fallbacks."""
        return dict(self._counts)

    # -- the cycle ----------------------------------------------------------------------------------------

    def _hint(self, path: str) -> None:  # called on watchdog's observer thread
        with self._lock:
            self._hints.add(path)

    def _cycle(self, now: float) -> None:
        self._supervise_observer()
        with self._lock:
            hints, self._hints = self._hints, set()
        if self._overflow.flag.is_set():
            self._overflow.flag.clear()
            self._counts["overflows"] += 1
            log.warning("inotify queue overflowed; rescanning every event-watched folder")
            for folder in self._folders.values():
                if folder.mode == "events":
                    folder.next_full = min(folder.next_full, now)
        for raw in hints:
            self._route(Path(raw), now)
        alive = self._alive_watches(now)
        cache: list[list[mounts.Mount]] = []

        def table() -> list[mounts.Mount]:  # read at most once a cycle, and only when a probe starts
            if not cache:
                cache.append(mounts.read_mounts())  # reading /proc never touches the folders themselves
            return cache[0]

        for folder in self._folders.values():
            if folder.job is not None:
                if not folder.job.done:
                    self._check_slow(folder)
                    continue
                self._apply(folder, folder.job, now)
            events = folder.up and folder.mode == "events" and folder.identity is not None
            if events and folder.watch not in alive and now >= folder.watch_retry:
                self._watch(folder, now)
            self._submit(folder, now, table)
        if self._fallbacks:
            self._warn_fallbacks()

    def _route(self, path: Path, now: float) -> None:
        folder = self._folders.get(path)
        if folder is not None:  # the folder itself was deleted or moved: check its health now
            folder.next_health = now
            return
        folder = self._folders.get(path.parent)
        if folder is not None and folder.up and is_wanted(path.name, folder.spec.include, folder.spec.ignore):
            folder.hints.add(path)

    def _submit(self, folder: _Folder, now: float, table: Callable[[], list[mounts.Mount]]) -> None:
        # Polled folders are listed every poll_interval, event folders every rescan_interval, and in between
        # get a cheap stat every poll_interval (to notice a vanished directory or mount, which inotify does
        # not always report). A down folder is only probed, every poll_interval, with a full listing so that
        # its return is followed by a rescan at once.
        spec, pool = folder.spec, self._pool
        if pool is None:
            return
        if folder.up:
            full = now >= folder.next_full
            paths = sorted(folder.hints | set(folder.tracker.needs_check(now)))
            if not (full or paths or now >= folder.next_health):
                return
        elif now >= folder.next_health:
            full, paths = True, []
        else:
            return
        folder.hints.clear()
        if full:
            folder.next_full = now + (spec.poll_interval if folder.mode == "poll" else spec.rescan_interval)
        folder.next_health = now + spec.poll_interval
        self._counts["probes"] += 1
        mount, tbl = folder.mount, table()
        folder.job = pool.submit(lambda: self._run_probe(spec, full, paths, mount, tbl), full)

    def _run_probe(
        self, spec: WatchSpec, full: bool, paths: list[Path], mount: str, table: list[mounts.Mount]
    ) -> _Probe:  # runs on a scan worker; a seam for tests that need a folder to hang
        return _probe(spec, full, paths, mount, table, self._clock)

    def _check_slow(self, folder: _Folder) -> None:
        job = folder.job
        bound = self._scan_timeout or max(10.0, folder.spec.poll_interval * 5)
        if job is None or job.started is None or folder.slow or self._clock() - job.started <= bound:
            return
        folder.slow = True
        if self._pool is not None:
            self._pool.replace(job)
        self._down(folder, f"a scan has not returned after {bound:g} s (hung network mount?)")

    def _apply(self, folder: _Folder, job: _Job, now: float) -> None:
        folder.job, folder.slow = None, False
        probe = job.result
        if probe is None or probe.problem:
            self._down(folder, probe.problem if probe else f"scan failed: {job.error!r}")
            self._unwatch(folder)  # its inotify watch died with the directory; re-established when it is back
            return
        if not folder.up or (folder.identity is not None and probe.identity != folder.identity):
            # Back, or recreated/remounted under us: the old watch is dead and what we knew is stale.
            log.info("hot folder %s is %s", folder.spec.name, "back" if not folder.up else "new (recreated)")
            self._unwatch(folder)
            folder.tracker.clear()
            if probe.listing is None:
                folder.next_full = now
        folder.up, folder.problem, folder.identity = True, "", probe.identity
        folder.mount = folder.mount or probe.mount
        if folder.mode == "auto":
            folder.mode = "poll" if probe.fstype in mounts.NETWORK_FS_TYPES else "events"
            folder.next_full = min(folder.next_full, now + folder.spec.poll_interval)
            log.info("hot folder %s on %s: using %s", folder.spec.name, probe.fstype or "?", folder.mode)
        if probe.listing is not None:
            self._counts["full_scans"] += 1
            self._announce(folder, probe.listing.items())
            folder.tracker.sync(probe.listing, probe.start, probe.end)
        self._announce(folder, probe.stats.items())
        for path, state in probe.stats.items():
            folder.tracker.observe(path, state, probe.start, probe.end)

    def _announce(self, folder: _Folder, found: Iterable[tuple[Path, FileState | None]]) -> None:
        # First sight of a document: the `job.detected` step of the log vocabulary (log.py). structlog's
        # ExtraAdder turns `extra` into fields, so this stdlib record renders as a structured event.
        for path, state in found:
            if state is not None and path not in folder.tracker and not is_sidecar(path.name):
                log.info("job.detected", extra={"folder": folder.spec.name, "file": path.name, "size": state.size})

    def _down(self, folder: _Folder, problem: str) -> None:
        if folder.up or folder.problem != problem:
            log.warning(
                "hot folder %s (%s) is down: %s; not scanning it until it is back",
                folder.spec.name,
                folder.spec.path,
                problem,
            )
        folder.up, folder.problem = False, problem
        folder.hints.clear()

    # -- watchdog -----------------------------------------------------------------------------------------

    def _new_observer(self) -> Any:
        # One Observer for every event folder: in watchdog 7.1 an InotifyObserver owns one inotify instance
        # that all its watches share, so 500 folders cost one of the 128 default instances (and 500 threads).
        try:
            observer = Observer()
            observer.start()
        except OSError as exc:
            log.warning("cannot create an inotify instance (%s); event folders will be polled", exc)
            return None
        return observer

    def _supervise_observer(self) -> None:
        if self._observer is None or self._observer.is_alive():
            return
        log.error("the watchdog observer thread died; restarting it and rescanning")
        self._observer = self._new_observer()
        self._alive, self._alive_at = set(), -math.inf
        for folder in self._folders.values():
            folder.watch = None

    def _alive_watches(self, now: float) -> set[Any]:
        # An emitter stops itself when its directory is deleted (and its watch is gone after an unmount);
        # such a folder needs its watch scheduled again, after which it is re-listed. Checking 500 emitters
        # costs ~3 ms, so at most once a second; _watch/_unwatch keep the set current in between.
        if self._observer is None:
            return set()
        if now >= self._alive_at + 1.0 or now < self._alive_at:
            self._alive = {emitter.watch for emitter in list(self._observer.emitters) if emitter.is_alive()}
            self._alive_at = now
        return self._alive

    def _watch(self, folder: _Folder, now: float) -> None:
        self._unwatch(folder)
        if self._observer is None:
            self._fall_back(folder, now)
            return
        try:
            folder.watch = self._observer.schedule(self._handler, str(folder.spec.path), recursive=False)
            self._alive.add(folder.watch)
        except OSError as exc:
            if exc.errno in (errno.EMFILE, errno.ENOSPC, errno.ENOMEM):
                self._fall_back(folder, now)
            else:
                log.warning(
                    "cannot watch %s: %s; retrying in %g s", folder.spec.path, exc, folder.spec.poll_interval
                )
                folder.watch_retry = now + folder.spec.poll_interval
            return
        folder.next_full = now  # list again now the watch exists: anything that arrived before it is caught

    def _unwatch(self, folder: _Folder) -> None:
        self._alive.discard(folder.watch)
        if folder.watch is not None and self._observer is not None:
            try:
                self._observer.unschedule(folder.watch)
            except Exception:  # already gone with its directory
                log.debug("unschedule %s failed", folder.spec.path, exc_info=True)
        folder.watch = None

    def _fall_back(self, folder: _Folder, now: float) -> None:
        folder.mode = "poll"
        folder.next_full = now  # from now on listed every poll_interval, starting at once
        self._fallbacks += 1
        self._counts["polling_fallbacks"] += 1

    def _warn_fallbacks(self) -> None:
        def limit(name: str) -> str:
            try:
                return Path("/proc/sys/fs/inotify", name).read_text().strip()
            except OSError:
                return "?"

        log.warning(
            "%d hot folder(s) could not get an inotify watch (limit reached: "
            "fs.inotify.max_user_instances=%s, fs.inotify.max_user_watches=%s); they are polled every "
            "poll_interval instead. To watch them with events raise the limits, e.g. sysctl -w "
            "fs.inotify.max_user_watches=524288 "
            "fs.inotify.max_user_instances=1024 (persist in /etc/sysctl.d/).",
            self._fallbacks,
            limit("max_user_instances"),
            limit("max_user_watches"),
        )
        self._fallbacks = 0
