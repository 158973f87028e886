"""The daemon: wires the parts together and runs the main loop, the workers and the tracker.

Signal handlers only set flags; the main loop does the work (reload, stop), pings the systemd watchdog only
while it is itself making progress and the threads it depends on (workers, tracker, the watcher's observer
and scan threads) are alive, and owns intake: stable files are claimed only while the workers can take them,
so memory stays bounded however many files wait in the folders.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from collections import OrderedDict
from pathlib import Path
from types import FrameType

import structlog

from faxdropd import config as configmod
from faxdropd import log as logmod
from faxdropd.config import Config, FolderConfig
from faxdropd.daemon import sdnotify
from faxdropd.daemon.health import Health
from faxdropd.daemon.metrics import Metrics, NullMetrics
from faxdropd.errors import ConfigError
from faxdropd.files import names
from faxdropd.interfax.client import ClientFactory, ClientSettings
from faxdropd.jobs import intake
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import FINAL, Job, Journal, State
from faxdropd.jobs.pipeline import Pipeline
from faxdropd.jobs.recovery import recover
from faxdropd.jobs.runtime import Pause, Runtime
from faxdropd.jobs.tracker import Tracker
from faxdropd.watch.watcher import Watcher, WatchSpec

log = structlog.get_logger("faxdropd.daemon.mainloop")

LOOP_INTERVAL = 0.2
STOP_GRACE = 60.0  # seconds uploads in flight get to finish after SIGTERM (unit: TimeoutStopSec=90s)
# Settings read once at start; a reload that changes them says so instead of pretending to apply them.
RESTART_ONLY = ("state_dir", "workers", "metrics")


def client_settings(cfg: Config) -> ClientSettings:
    ix = cfg.interfax
    return ClientSettings(
        url=ix.url,
        username=ix.username,
        password=ix.password.get_secret_value(),
        timeout=ix.timeout,
        connect_timeout=ix.connect_timeout,
        verify=ix.verify_tls,
        soap_version=ix.soap_version,
    )


class Daemon:
    def __init__(self, cfg: Config, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self._stop = threading.Event()
        # Set by workers finishing a job (room for another claim) and by signals: the loop wakes at once
        # instead of at its next tick.
        self._wake = threading.Event()
        # Stable files not yet claimed, oldest first (paths only, so memory stays small per waiting file);
        # documents whose sidecar has not settled wait aside until the watcher reports the sidecar.
        self._backlog: OrderedDict[Path, str] = OrderedDict()
        self._awaiting_sidecar: dict[Path, str] = {}
        self._reload = threading.Event()
        self._signals = 0
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._queued: set[str] = set()
        self._queued_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self.capacity = max(4, cfg.workers * 4)
        self.health = Health()
        self._workers = self.health.workers

    # -- signals --------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
            return
        self._signals += 1
        if self._signals > 1:
            # A second SIGTERM/SIGINT: the operator wants out now. Every step is committed before its effect,
            # so an upload cut short resumes (or is reconciled) at the next start, as after a crash.
            log.warning("daemon.exit_now", signal=signal.Signals(signum).name, in_flight=self._busy)
            os._exit(1)
        self._stop.set()
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    # -- run ------------------------------------------------------------------------------------------

    def run(self) -> int:
        cfg = self.cfg
        logmod.register_secret(cfg.interfax.password.get_secret_value())
        metrics: Metrics | NullMetrics = NullMetrics()
        if cfg.metrics is not None:
            metrics = Metrics()
            try:
                metrics.start(cfg.metrics.listen)
            except (OSError, ValueError) as exc:  # port taken: say which, instead of a traceback
                log.critical("daemon.failed", error=f"metrics.listen {cfg.metrics.listen}: {exc}")
                return 1
            address = metrics.address
            log.info("metrics.listening", address=f"{address[0]}:{address[1]}" if address else cfg.metrics.listen)
        journal = Journal(cfg.state_dir)
        clients = ClientFactory(client_settings(cfg), observer=metrics.call)
        self.rt = Runtime(config=cfg, journal=journal, clients=clients, metrics=metrics, pause=Pause(journal))
        self.pipeline = Pipeline(self.rt)
        finisher: Finisher = self.pipeline.finisher
        tracker = Tracker(self.rt, finisher)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        for job in recover(self.rt, finisher):
            self._enqueue(job)
        self.watcher = Watcher([WatchSpec.from_folder(f) for f in cfg.folders], wake=self._wake)
        self.watcher.start()
        for n in range(cfg.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        tracker_thread = threading.Thread(target=tracker.run, args=(self._stop,), name="tracker", daemon=True)
        tracker_thread.start()
        self.health.tracker, self.health.watcher = tracker_thread, self.watcher
        self._watch_folders()
        sdnotify.ready(self._status())
        log.info("daemon.ready", folders=len(cfg.folders), workers=cfg.workers, url=cfg.interfax.url, pid=os.getpid())
        try:
            self._loop()
        finally:
            self._shutdown(tracker_thread)
            journal.close()
            clients.close()
            metrics.stop()
        return 0

    def _loop(self) -> None:
        ping_every = sdnotify.watchdog_interval()
        last_ping = last_status = last_refile = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if self._reload.is_set():
                self._reload.clear()
                self._do_reload()
            self._intake()
            self._watch_folders()
            self._schedule_due()
            if now - last_refile > 5.0:
                last_refile = now
                self._refile()
            if now - last_status > 2.0:
                last_status = now
                self._report()
            # Pinged from here, after a full pass of real work: a hung pass (journal, a stuck claim) stops the
            # pings and systemd restarts us. A withheld ping is retried every pass, not every ping_every.
            if ping_every is not None and now - last_ping >= ping_every and self.health.ping():
                last_ping = now
            self._wake.wait(LOOP_INTERVAL)
            self._wake.clear()

    # -- intake and scheduling --------------------------------------------------------------------------

    def _folder(self, name: str) -> FolderConfig | None:
        return self.rt.folder(name)

    def _intake(self) -> None:
        for name, path in self.watcher.ready():
            if names.is_sidecar(path.name):
                # A settled sidecar commits the document that was waiting for it.
                document = names.sidecar_document(path)
                if document in self._awaiting_sidecar:
                    self._backlog[document] = self._awaiting_sidecar.pop(document)
                continue
            self._backlog[path] = name
        if self._stop.is_set() or self.rt.pause.active():
            return  # the backlog waits; each pass costs nothing per waiting file
        batch: list[tuple[FolderConfig, Path]] = []
        room = self.capacity - len(self._queued)  # back-pressure: claim only what fits
        while self._backlog and len(batch) < room:
            path, name = self._backlog.popitem(last=False)
            folder = self._folder(name)
            if folder is None:
                continue
            if not self._committed(folder, path):
                self._awaiting_sidecar[path] = name
                continue
            log.info("job.stable", folder=name, file=path.name)
            batch.append((folder, path))
        if batch:
            for job in intake.claim_batch(self.rt.journal, batch):
                self._enqueue(job)

    def _watch_folders(self) -> None:
        self.health.watch_folders(self.rt.metrics, lambda name: str(f.path) if (f := self._folder(name)) else "")

    def _committed(self, folder: FolderConfig, path: Path) -> bool:
        """A document with a sidecar waits for the sidecar to settle; a sidecar-only folder waits for one."""
        if "sidecar" not in folder.to_from:
            return True
        sidecar = names.find_sidecar(path)  # the suffix in any case; None too for a 255-byte name
        try:
            age = time.time() - sidecar.stat().st_mtime if sidecar is not None else None
        except OSError:  # gone since, or a symlink to nothing
            age = None
        if age is None:
            return folder.to_from != ["sidecar"]
        return age >= folder.stable_seconds

    def _schedule_due(self) -> None:
        now = time.time()
        cap = self.cfg.retry.cap
        for job in self.rt.journal.by_state(State.DEFERRED):
            when = job.next_attempt_at or 0.0
            if when - now > cap + 3600:
                # The wall clock jumped back: never wait longer than the backoff cap allows.
                when = now
            if when <= now and len(self._queued) < self.capacity:
                self._enqueue(job)

    def _enqueue(self, job: Job) -> None:
        with self._queued_lock:
            if job.id in self._queued:
                return
            self._queued.add(job.id)
        self._queue.put(job)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stop.is_set():
                return
            try:
                fresh = self.rt.journal.get(job.id)
                folder = self._folder(job.folder)
                if fresh is not None and fresh.state in (State.CLAIMED, State.DEFERRED) and folder is not None:
                    with self._queued_lock:
                        self._busy += 1
                    try:
                        self.pipeline.process(fresh, folder)
                    finally:
                        with self._queued_lock:
                            self._busy -= 1
            finally:
                with self._queued_lock:
                    self._queued.discard(job.id)
                self._wake.set()

    def _refile(self) -> None:
        for job in self.rt.journal.by_state(*[s for s in State if s not in FINAL]):
            # A folder that is down is skipped: its share comes back later and nothing can be filed meanwhile.
            if job.outcome is not None and job.id not in self._queued and self.health.folder_up.get(job.folder, True):
                self.pipeline.finisher.refile(job)

    # -- reload, status, shutdown -------------------------------------------------------------------------

    def _do_reload(self) -> None:
        sdnotify.reloading()
        log.info("daemon.reloading", config=str(self.config_path))
        try:
            if self.config_path is not None:
                self._apply_config(configmod.load_config(self.config_path))
        except (ConfigError, ValueError, OSError) as exc:
            log.error("daemon.reload_failed", error=str(exc), action="keeping the previous configuration")
        finally:
            sdnotify.ready(self._status())  # READY=1 after RELOADING=1 whatever happened, or systemctl waits

    def _apply_config(self, new: Config) -> None:
        old = self.cfg
        specs = [WatchSpec.from_folder(f) for f in new.folders]  # may raise: nothing is changed yet
        self.watcher.reload(specs)
        new.interfax = old.interfax  # credentials and endpoint need a restart (systemd credentials)
        needs_restart = [key for key in RESTART_ONLY if getattr(new, key) != getattr(old, key)]
        for key in needs_restart:
            setattr(new, key, getattr(old, key))
        self.cfg = new
        self.rt.config = new
        if new.log != old.log:
            logmod.configure(new.log.format, new.log.level)
        log.info("daemon.reloaded", folders=len(new.folders), needs_restart=needs_restart)

    def _status(self) -> str:
        counts = self.rt.journal.counts() if hasattr(self, "rt") else {}
        waiting = sum(counts.get(s, 0) for s in ("claimed", "deferred", "uploading", "submitting"))
        down = self.health.down()
        folders = f"{len(self.cfg.folders)} folders" + (f" ({len(down)} down: {', '.join(down[:3])})" if down else "")
        text = (
            f"{folders}; {waiting} waiting, {self._busy} in flight, {counts.get('submitted', 0)} submitted, "
            f"{counts.get('unknown', 0)} unknown"
        )
        if hasattr(self, "rt") and self.rt.pause.active():
            text = f"PAUSED: {self.rt.pause.reason}; " + text
        return text

    def _report(self) -> None:
        oldest = self.rt.journal.oldest_pending()
        self.rt.metrics.set_queue(len(self._queued), self._busy, time.time() - oldest if oldest else 0.0)
        self.rt.metrics.paused(self.rt.pause.active())
        for name, up in self.health.folder_up.items():
            self.rt.metrics.folder_health(name, up)
        sdnotify.status(self._status())

    def _shutdown(self, tracker_thread: threading.Thread) -> None:
        sdnotify.stopping()
        log.info("daemon.stopping", in_flight=self._busy)
        self.watcher.stop()
        while True:  # drop queued jobs: they stay in the journal and resume on the next start
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        for _ in self._workers:
            self._queue.put(None)
        if self._busy:
            sdnotify.extend_timeout(STOP_GRACE + 15)  # a chunked upload may need the whole grace
        deadline = time.monotonic() + STOP_GRACE
        for worker in self._workers:
            # Interruptible by signals (POSIX lock waits), so a second SIGTERM still exits at once.
            worker.join(max(0.0, deadline - time.monotonic()))
        tracker_thread.join(5.0)
        abandoned = sum(w.is_alive() for w in self._workers)
        log.info("daemon.stopped", abandoned=abandoned)
