"""The main loop: intake, scheduling, reload and stop, beside the workers, the filing thread and the tracker.

Signal handlers only set flags (signals.py); the main loop does the work (reload, stop), pings the systemd watchdog
only while it makes progress and the threads it depends on (workers, tracker, the watcher's threads) are alive,
and owns intake: stable files are claimed only while workers can take them (bounded memory).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import OrderedDict
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import structlog

from faxdropd import config as configmod
from faxdropd import log as logmod
from faxdropd.config import Config, FolderConfig
from faxdropd.config.durations import plural
from faxdropd.daemon import collector, sdnotify, wiring
from faxdropd.daemon.controls import Controls
from faxdropd.daemon.endpoints import Probes
from faxdropd.daemon.health import Health
from faxdropd.daemon.onecpu import OneCpu
from faxdropd.daemon.signals import SignalFlags
from faxdropd.daemon.workers import WorkerPool, join_within
from faxdropd.errors import ConfigError
from faxdropd.files import names
from faxdropd.jobs import adoption, intake
from faxdropd.jobs.figures import queue_figures
from faxdropd.jobs.journal import NOT_FINAL, RUNNABLE, Job, State
from faxdropd.jobs.recovery import recover
from faxdropd.jobs.retention import Retention
from faxdropd.watch.watcher import Watcher, WatchSpec

log = structlog.get_logger("faxdropd.daemon.mainloop")

LOOP_INTERVAL = 0.2
STOP_GRACE = 60.0  # seconds uploads in flight get to finish after SIGTERM (unit: TimeoutStopSec=90s)
TRACKER_GRACE = 5.0  # seconds a status query under way gets at shutdown
# Settings read once at start; a reload that changes them says so instead of pretending to apply them.
# Work areas, listeners and the CPU placement: chosen at start.
RESTART_ONLY = ("state_dir", "workers", "metrics", "instance", "web", "one_cpu")


class MainLoop:
    def __init__(self, cfg: Config, config_path: Path | None, parts: wiring.Parts, flags: SignalFlags) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.flags = flags
        self.rt = parts.rt
        self.finisher = parts.finisher
        self.pipeline = parts.pipeline
        # Set by workers finishing a job (room for another claim) and by the watcher: the loop wakes at once
        # instead of at its next tick.
        self._wake = threading.Event()
        # Stable files not yet claimed, oldest first (paths only, so memory stays small per waiting file);
        # documents whose sidecar has not settled wait aside until the watcher reports the sidecar.
        self._backlog: OrderedDict[Path, str] = OrderedDict()
        self._awaiting_sidecar: dict[Path, str] = {}
        self.controls = Controls(self.rt, self.finisher, lambda: {f.name for f in self.cfg.folders})
        # More threads than sending slots: some check the next documents while the others send (jobs/sending.py);
        # at most `workers` faxes are with InterFAX at once.
        threads = self.pipeline.slots.threads
        self.pool = WorkerPool(threads, max(4, cfg.workers * 4), handle=self._handle, on_done=self._wake.set)
        # One thread files what the workers sent (receipt, move, fsyncs, the final commit): at 50 ms per InterFAX
        # call that filing was a tenth of each worker's time between two sends (docs/bench/notes.md, round 6).
        # It takes all that is waiting at once: one fsync per directory and one final commit for the batch.
        capacity = self.pool.capacity
        self.filing = WorkerPool(1, capacity, handle=self._file, on_done=self._wake.set, batch=capacity)
        self.finisher.file_later = self.filing.submit
        self.watcher = Watcher([WatchSpec.from_folder(f) for f in cfg.folders], wake=self._wake)
        stop = self._tracker_stop = threading.Event()
        self._tracker = threading.Thread(target=parts.tracker.run, args=(stop,), name="tracker", daemon=True)
        self.health = Health(parts.folder_events)
        self.health.tracker, self.health.watcher = self._tracker, self.watcher
        self.health.workers = self.pool.threads + self.filing.threads
        self.probes = Probes(self.not_ready)
        self.retention = Retention(self.rt)
        self._retention = threading.Thread(target=self.retention.run, name="retention", daemon=True)
        self.cpu = OneCpu() if cfg.one_cpu else None

    def run(self) -> None:
        cfg = self.cfg
        self.flags.install()
        if self.cpu is not None:
            self.cpu.start()  # before the threads start: they inherit the mask
        for job in recover(self.rt, self.finisher):
            self.pool.submit(job)
        self.watcher.start()
        self.pool.start()
        self.filing.start()
        self._tracker.start()
        self._retention.start()  # a pass now, then hourly; never holds up the loop
        self._watch_folders()
        collector.freeze_startup()
        sdnotify.ready(self._status())
        log.info("daemon.ready", folders=len(cfg.folders), workers=cfg.workers, url=cfg.interfax.url, pid=os.getpid())
        try:
            self._loop()
        finally:
            self._shutdown()

    def _loop(self) -> None:
        ping_every = sdnotify.watchdog_interval()
        last_ping = last_status = last_refile = last_pass = 0.0
        last_beat = time.monotonic()  # recovery beat once at start
        while not self.flags.should_exit:
            now = time.monotonic()
            self.probes.tick()  # /healthz: the loop is making progress
            if self.flags.take_reload():
                self._do_reload()
            self._intake()
            if now - last_pass >= LOOP_INTERVAL:  # a worker's wake-up is for intake: no journal reads per fax
                last_pass = now
                self._watch_folders()
                self._schedule_due()
                for job in self.controls.step():  # the operator's hold/release/cancel (ops/apply.py)
                    self.pool.submit(job)
                if self.cpu is not None:
                    self.cpu.review()
            if now - last_refile > 5.0:
                last_refile = now
                self._refile()
                adoption.take_adopted(self.rt.journal, self.cfg.folders)  # `faxdropd adopt` ran meanwhile
            if now - last_beat >= adoption.heartbeat_interval(self.cfg.peer_timeout):
                last_beat = now
                adoption.heartbeat(self.cfg.folders)
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
        if self.flags.should_exit or self.rt.pause.active():
            return  # the backlog waits; each pass costs nothing per waiting file
        batch: list[tuple[FolderConfig, Path]] = []
        # Back-pressure: claim only what fits, and nothing while filing lags a whole pool behind (a slow share).
        room = min(self.pool.room(), self.pool.capacity - self.filing.pending)
        if room < self.pool.capacity // 2 and len(self._backlog) > room:
            # A large backlog is claimed half a pool at a time, not one file per finished job: each claim
            # batch costs a journal commit, directory fsyncs and (for sidecar lookups) a listing of the folder,
            # whatever its size. Half the capacity still queued keeps every worker busy meanwhile.
            return
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
                self.pool.submit(job)

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
        holds = self.controls.holds()
        for job in self.rt.journal.by_state(State.DEFERRED):
            if job.outcome is not None or holds.holds(job.id, job.folder):
                # Decided, only not filed yet (its share was down): the refile pass owns it. Processing it
                # again would send a document already given up on, or overwrite its outcome.
                continue
            when = job.next_attempt_at or 0.0
            if when - now > cap + 3600:
                # The wall clock jumped back: never wait longer than the backoff cap allows.
                when = now
            if when <= now and self.pool.room() > 0:
                self.pool.submit(job)

    def _handle(self, jobs: list[Job]) -> None:
        """Process the job (on a worker thread) if it is still runnable: the journal's copy is the truth."""
        (job,) = jobs
        fresh = self.rt.journal.get(job.id)
        folder = self._folder(job.folder)
        # A job with an outcome is only waiting to be filed (its share was down): _refile owns it.
        if fresh is not None and fresh.outcome is None and fresh.state in RUNNABLE and folder is not None:
            with self.controls.taking(fresh) as free:  # a held job waits for its release
                if free:
                    self.pipeline.process(fresh, folder)

    def _file(self, jobs: list[Job]) -> None:
        """The filing thread's work: jobs whose outcome a worker recorded (Finisher.finish with later=True)."""
        self.finisher.refile_many(jobs, resume=False)

    def _refile(self) -> None:
        for job in self.rt.journal.by_state(*NOT_FINAL):
            # A folder that is down is skipped: its share comes back later and nothing can be filed meanwhile.
            held = self.pool.holds(job.id) or self.filing.holds(job.id)
            if job.outcome is not None and not held and self.health.folder_up.get(job.folder, True):
                self.finisher.refile(job)

    # -- reload, status, shutdown -------------------------------------------------------------------------

    def _do_reload(self) -> None:
        sdnotify.reloading()
        log.info("daemon.reloading", config=str(self.config_path))
        try:
            if self.config_path is not None:
                self._apply_config(configmod.load_config(self.config_path))
        except (ConfigError, ValueError, OSError) as exc:
            log.warning("daemon.reload_failed", error=str(exc), action="keeping the previous configuration")
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
            logmod.configure(new.log.format, new.log.level, libraries=new.log.libraries)
        if needs_restart:  # the operator asked for a change that is not in force: say so where it is seen
            log.warning("daemon.reloaded", folders=len(new.folders), needs_restart=needs_restart)
        else:
            log.info("daemon.reloaded", folders=len(new.folders), needs_restart=needs_restart)

    def not_ready(self) -> list[str]:
        """/readyz's causes (HTTP thread): only in-memory state and the journal's own cheap check."""
        causes = []
        if self.rt.pause.active():
            causes.append(f"sending paused: {self.rt.pause.reason}")
        causes += [f"folder {name} is down" for name in self.health.down()]
        if problem := self.rt.journal.check():
            causes.append(problem)
        return causes

    def _status(self) -> str:
        counts = self.rt.journal.counts()
        figures = queue_figures(counts)
        down = self.health.down()
        folders = plural(len(self.cfg.folders), "folder") + (
            f" ({len(down)} down: {', '.join(down[:3])})" if down else ""
        )
        text = f"{folders}; {figures.queued} waiting, {figures.in_flight} in flight, "
        text += f"{counts.get('submitted', 0)} submitted, {counts.get('unknown', 0)} unknown"
        holds = self.controls.holds()
        if holds:
            text += f"; HELD: {plural(len(holds.jobs), 'job')}, {plural(len(holds.folders), 'folder')}"
            if holds.folders:
                text += f" ({', '.join(sorted(holds.folders)[:3])})"
        if self.rt.pause.active():
            text = f"PAUSED: {self.rt.pause.reason}; " + text
        return text

    def _report(self) -> None:
        oldest = self.rt.journal.oldest_pending()
        counts = self.rt.journal.counts()
        figures = queue_figures(counts)  # what `faxdropd status` counts
        self.rt.metrics.set_queue(figures.queued, figures.in_flight, time.time() - oldest if oldest else 0.0)
        self.rt.metrics.set_jobs(counts)
        self.rt.metrics.paused(self.rt.pause.active())
        for name, up in self.health.folder_up.items():
            self.rt.metrics.folder_health(name, up)
        sdnotify.status(self._status())

    def _shutdown(self) -> None:
        self._exit_if_forced()
        sdnotify.stopping()
        log.info("daemon.stopping", in_flight=self.pool.busy)
        self._tracker_stop.set()
        self.retention.stopping.set()  # it stops between two files or two batches
        self.watcher.stop()
        self.pool.close()  # queued jobs stay in the journal and resume on the next start
        self.pipeline.slots.close()  # and so do checked ones still waiting to be sent
        if self.pool.busy:
            sdnotify.extend_timeout(STOP_GRACE + 15)  # a chunked upload may need the whole grace
        abandoned = self.pool.drain(STOP_GRACE, abort=self._forced)
        self.filing.close()  # what it had not started is filed below, on this thread
        self.filing.drain(STOP_GRACE, abort=self._forced)
        if not self._forced():
            self._refile()
        join_within([self._tracker, self._retention], TRACKER_GRACE, abort=self._forced)
        self._exit_if_forced()
        log.info("daemon.stopped", abandoned=abandoned)

    def _forced(self) -> bool:
        return self.flags.force_exit

    def _exit_if_forced(self) -> None:
        if self.flags.force_exit:
            self._exit_now()

    def _exit_now(self) -> NoReturn:
        log.warning("daemon.exit_now", signal=self.flags.last_signal, in_flight=self.pool.busy)
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        # os._exit: no thread may take another step, and nothing waits for the uploads in flight.
        os._exit(1)
