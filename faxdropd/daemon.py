"""The daemon: wires the parts together and runs the main loop, the workers and the tracker.

Signal handlers only set flags; the main loop does the work (reload, stop), pings the systemd watchdog only
while it is itself making progress, and owns intake: stable files are claimed only while the workers can
take them, so memory stays bounded however many files wait in the folders.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from pathlib import Path
from types import FrameType

import structlog

from faxdropd import config as configmod
from faxdropd import log as logmod
from faxdropd import routing, sdnotify
from faxdropd.config import Config, FolderConfig
from faxdropd.errors import ConfigError
from faxdropd.finish import Finisher
from faxdropd.journal import Job, Journal, State
from faxdropd.metrics import Metrics, NullMetrics
from faxdropd.pipeline import Pipeline
from faxdropd.recovery import recover
from faxdropd.runtime import Pause, Runtime
from faxdropd.soap import ClientFactory, ClientSettings
from faxdropd.tracker import Tracker
from faxdropd.watcher import Watcher, WatchSpec

log = structlog.get_logger("faxdropd.daemon")

LOOP_INTERVAL = 0.2
STOP_GRACE = 60.0  # seconds uploads in flight get to finish after SIGTERM


def client_settings(cfg: Config) -> ClientSettings:
    ix = cfg.interfax
    return ClientSettings(url=ix.url, username=ix.username, password=ix.password.get_secret_value(),
                          timeout=ix.timeout, connect_timeout=ix.connect_timeout, verify=ix.verify_tls,
                          soap_version=ix.soap_version)


class Daemon:
    def __init__(self, cfg: Config, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._signals = 0
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._queued: set[str] = set()
        self._queued_lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self.capacity = max(4, cfg.workers * 4)

    # -- signals --------------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._reload.set()
            return
        self._signals += 1
        if self._signals > 1:
            os._exit(1)  # a second SIGTERM/SIGINT: the operator wants out now; the journal is consistent
        self._stop.set()

    def request_stop(self) -> None:
        self._stop.set()

    # -- run ------------------------------------------------------------------------------------------

    def run(self) -> int:
        cfg = self.cfg
        logmod.register_secret(cfg.interfax.password.get_secret_value())
        metrics: Metrics | NullMetrics = NullMetrics()
        if cfg.metrics is not None:
            metrics = Metrics()
            metrics.start(cfg.metrics.listen)
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
        self.watcher = Watcher([WatchSpec.from_folder(f) for f in cfg.folders])
        self.watcher.start()
        for n in range(cfg.workers):
            worker = threading.Thread(target=self._work, name=f"worker-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        tracker_thread = threading.Thread(target=tracker.run, args=(self._stop,), name="tracker", daemon=True)
        tracker_thread.start()
        sdnotify.ready(self._status())
        log.info("daemon.ready", folders=len(cfg.folders), workers=cfg.workers, url=cfg.interfax.url,
                 pid=os.getpid())
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
            self._schedule_due()
            if now - last_refile > 5.0:
                last_refile = now
                self._refile()
            if now - last_status > 2.0:
                last_status = now
                self._report()
            if ping_every is not None and now - last_ping >= ping_every:
                last_ping = now
                sdnotify.watchdog_ping()
            self._stop.wait(LOOP_INTERVAL)

    # -- intake and scheduling --------------------------------------------------------------------------

    def _folder(self, name: str) -> FolderConfig | None:
        return self.rt.folder(name)

    def _intake(self) -> None:
        for name, path in self.watcher.ready():
            if self._stop.is_set() or self.rt.pause.active():
                return
            if len(self._queued) >= self.capacity:
                return  # back-pressure: the file stays in its folder and is offered again later
            folder = self._folder(name)
            if folder is None or routing.is_sidecar(path.name) or not self._committed(folder, path):
                continue
            job = self.pipeline.claim(folder, path)
            if job is not None:
                self._enqueue(job)

    def _committed(self, folder: FolderConfig, path: Path) -> bool:
        """A document with a sidecar waits for the sidecar to settle; a sidecar-only folder waits for one."""
        if "sidecar" not in folder.to_from:
            return True
        sidecar = path.with_name(routing.sidecar_name(path.name))
        try:
            age = time.time() - sidecar.stat().st_mtime
        except FileNotFoundError:
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

    def _refile(self) -> None:
        for job in self.rt.journal.by_state(*[s for s in State if s.value not in ("delivered", "failed",
                                                                                   "rejected")]):
            if job.outcome is not None and job.id not in self._queued:
                self.pipeline.finisher.refile(job)

    # -- reload, status, shutdown -------------------------------------------------------------------------

    def _do_reload(self) -> None:
        sdnotify.reloading()
        if self.config_path is None:
            sdnotify.ready(self._status())
            return
        try:
            new = configmod.load_config(self.config_path)
        except ConfigError as exc:
            log.error("daemon.reload_failed", error=str(exc), action="keeping the previous configuration")
            sdnotify.ready(self._status())
            return
        new.interfax = self.cfg.interfax  # credentials and endpoint need a restart (systemd credentials)
        self.cfg = new
        self.rt.config = new
        self.watcher.reload([WatchSpec.from_folder(f) for f in new.folders])
        log.info("daemon.reloaded", folders=len(new.folders))
        sdnotify.ready(self._status())

    def _status(self) -> str:
        counts = self.rt.journal.counts() if hasattr(self, "rt") else {}
        waiting = sum(counts.get(s, 0) for s in ("claimed", "deferred", "uploading", "submitting"))
        text = (f"{len(self.cfg.folders)} folders; {waiting} waiting, {counts.get('submitted', 0)} submitted, "
                f"{counts.get('unknown', 0)} unknown")
        if hasattr(self, "rt") and self.rt.pause.active():
            text = f"PAUSED: {self.rt.pause.reason}; " + text
        return text

    def _report(self) -> None:
        oldest = self.rt.journal.oldest_pending()
        self.rt.metrics.set_queue(len(self._queued), self._busy, time.time() - oldest if oldest else 0.0)
        self.rt.metrics.paused(self.rt.pause.active())
        for name, up in self.watcher.health().items():
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
        deadline = time.monotonic() + STOP_GRACE
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        tracker_thread.join(5.0)
        abandoned = sum(w.is_alive() for w in self._workers)
        log.info("daemon.stopped", abandoned=abandoned)
