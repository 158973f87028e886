"""What the watcher knows about a folder and how it looks at one: specs, listings, probes and the probe pool.

No watchdog here (watcher.py is the only module importing it). Every function that touches a folder runs on a
pool thread, never on the daemon's main loop, so a hung NFS mount can stall nothing but its own folder.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import structlog

from faxdropd.document import completeness
from faxdropd.files.names import is_sidecar
from faxdropd.watch import mounts
from faxdropd.watch.stability import FileState, is_wanted

log = structlog.get_logger(__name__)

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
    incomplete_grace: float = 300.0
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
            incomplete_grace=float(getattr(folder, "incomplete_grace", 300.0)),  # test doubles may lack it
            include=list(folder.include), ignore=list(folder.ignore),
        )  # fmt: skip


class Ready(NamedTuple):
    """A stable file: (folder name, path). ``is_sidecar`` flags ``<document>.fax.yaml`` control files."""

    folder: str
    path: Path

    @property
    def is_sidecar(self) -> bool:
        return is_sidecar(self.path.name)


_UNSEEN: Any = object()


def lstat_state(path: Path) -> FileState | None:
    try:
        st = os.lstat(path)  # never follow: a symlink is reported as itself so pre-flight can reject it
    except OSError:
        return None  # gone (claimed, deleted): forget it; if it is still there the next listing finds it
    return None if stat.S_ISDIR(st.st_mode) else FileState.from_stat(st)


def list_folder(spec: WatchSpec, known: dict[str, Path | None] | None = None) -> dict[Path, FileState]:
    """The folder's top-level non-directories that the folder takes, with their lstat.

    ``known`` (name -> its Path, or None when the name is not wanted) carries each name's verdict and Path
    from the previous listing of the same folder and spec, and is replaced with this listing's: a polled
    folder holding 10,000 waiting files is listed every poll_interval, and building a Path and matching the
    patterns again for every unchanged name was most of that cost (143 ms of CPU per listing, now ~40 ms).
    """
    previous = known if known is not None else {}
    names: dict[str, Path | None] = {}
    found: dict[Path, FileState] = {}
    with os.scandir(spec.path) as entries:
        for entry in entries:
            name = entry.name
            path = previous.get(name, _UNSEEN)
            if path is _UNSEEN:
                path = spec.path / name if is_wanted(name, spec.include, spec.ignore) else None
            names[name] = path
            if path is None:
                continue
            try:
                # Top level only; work/sent/failed are directories. Non-directories of any kind are reported.
                if entry.is_dir(follow_symlinks=False):
                    continue
                found[path] = FileState.from_stat(entry.stat(follow_symlinks=False))
            except FileNotFoundError:
                continue  # vanished between readdir and lstat
    if known is not None:
        known.clear()
        known.update(names)
    return found


def scan_once(spec: WatchSpec) -> list[Path]:
    """The files the folder would take now, ignoring stability (for `faxdropd explain`). Raises OSError."""
    return sorted(list_folder(spec))


@dataclass
class Probe:
    """What one visit to a folder found. ``problem`` non-empty means the folder is down."""

    start: float
    end: float = 0.0
    problem: str = ""
    identity: tuple[int, int] | None = None
    mount: str = ""
    fstype: str = ""
    listing: dict[Path, FileState] | None = None
    stats: dict[Path, FileState | None] = field(default_factory=dict)

    def newsworthy(self) -> bool:
        """Worth waking the daemon for: a problem, or files seen. A quiet health stat or an empty listing is
        not (200 idle folders would otherwise wake the main loop dozens of times a second)."""
        return bool(self.problem or self.stats or self.listing)


# Per folder: path -> (the state last judged, its completeness verdict), so an unchanged file is read once.
ContentCache = dict[Path, tuple[FileState, str]]


def with_content(path: Path, state: FileState | None, cache: ContentCache) -> FileState | None:
    """``state`` with its content verdict (document.completeness): a head and tail read, only when the file's
    size, mtime or inode changed since the last verdict."""
    if state is None or not state.regular or state.size == 0:
        return state
    cached = cache.get(path)
    if cached is not None and cached[0] == state:
        reason = cached[1]
    else:
        reason = completeness.check_file(path, state.size)
        cache[path] = (state, reason)
    return state._replace(incomplete=reason) if reason else state


def probe(
    spec: WatchSpec, full: bool, paths: list[Path], expected_mount: str, table: list[mounts.Mount],
    clock: Callable[[], float], known: dict[str, Path | None] | None = None, content: ContentCache | None = None,
) -> Probe:  # fmt: skip
    result = Probe(start=clock())
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
            result.listing = list_folder(spec, known) if full else None
            result.stats = {path: lstat_state(path) for path in paths}
            cache: ContentCache = {} if content is None else content
            if result.listing is not None:
                for gone in [p for p in cache if p not in result.listing]:
                    del cache[gone]
                result.listing = {p: with_content(p, st, cache) or st for p, st in result.listing.items()}
            result.stats = {p: with_content(p, st, cache) for p, st in result.stats.items()}
    except FileNotFoundError:
        result.problem = "missing"
    except OSError as exc:
        result.problem = exc.strerror or str(exc)
    result.end = clock()
    return result


class Job:
    """One probe of one folder. ``on_done`` runs on the pool thread right after it finished (or failed)."""

    def __init__(
        self, fn: Callable[[], Probe], full: bool, on_done: Callable[[Job], None] | None = None, eager: bool = False
    ) -> None:
        self.fn, self.full, self.on_done = fn, full, on_done
        self.eager = eager  # wake the daemon when done even if nothing was found (first probe, folder down)
        self.started: float | None = None
        self.done = self.stuck = False
        self.result: Probe | None = None
        self.error: Exception | None = None

    def run(self, clock: Callable[[], float]) -> None:
        self.started = clock()
        try:
            self.result = self.fn()
        except Exception as exc:
            self.error = exc
        finally:
            self.done = True
        if self.on_done is not None:
            try:
                self.on_done(self)
            except Exception:
                log.exception("watch.probe_hook_failed", action="the next cycle applies the probe")


class Pool:
    """Daemon threads that run folder probes, at most one in flight per folder.

    Time bound: the main loop never waits for a probe beyond a few milliseconds (Watcher.INLINE_WAIT); it
    applies finished ones. A probe running longer than the folder's bound marks the folder down/slow, and
    replace() starts one more worker so a thread stuck in an uninterruptible NFS call cannot shrink the pool;
    when that call finally returns, its thread exits. No probe is queued for a folder while its previous one
    is out, so a dead mount is skipped until it answers. Daemon threads (not ThreadPoolExecutor, whose threads
    are joined at exit) so a hung stat cannot block the process from exiting.
    """

    def __init__(self, size: int, clock: Callable[[], float]) -> None:
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
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

    def submit(self, job: Job) -> Job:
        self._queue.put(job)
        return job

    def replace(self, job: Job) -> None:
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
