"""Building the daemon's parts, in one place, each handed what it needs (nothing fished out of another part)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from faxdropd.config import Config
from faxdropd.daemon.endpoints import Probes, health_routes
from faxdropd.daemon.health import Health
from faxdropd.daemon.leasing import LeaseKeeper
from faxdropd.daemon.metrics import Metrics, NullMetrics
from faxdropd.interfax.client import ClientFactory, ClientSettings
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.opening import open_journal
from faxdropd.jobs.pipeline import Pipeline
from faxdropd.jobs.runtime import Pause, Runtime
from faxdropd.jobs.tracker import Tracker
from faxdropd.notify.changes import FolderEvents
from faxdropd.notify.sender import Sender
from faxdropd.web import server as web_server


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


@dataclass(frozen=True)
class Parts:
    """The running daemon's parts; `close()` releases what build() opened."""

    rt: Runtime
    finisher: Finisher
    pipeline: Pipeline
    tracker: Tracker
    notifier: Sender  # delivers the outbox in a thread of its own: a dead mail server never holds up a fax
    folder_events: FolderEvents
    leasing: LeaseKeeper

    def close(self) -> None:
        self.notifier.stop()  # before the journal it records into
        self.leasing.stop()  # renewals go on until the workers have drained
        self.rt.journal.close()
        self.rt.clients.close()


def build(cfg: Config, metrics: Metrics | NullMetrics) -> Parts:
    """Open the journal (taking the state directory's lock: JournalLocked if another daemon has it) and wire
    the parts around it. The finisher is shared: the pipeline, the tracker and the refile pass all end jobs."""
    journal = open_journal(cfg)
    try:
        clients = ClientFactory(client_settings(cfg), observer=metrics.call)
        rt = Runtime(config=cfg, journal=journal, clients=clients, metrics=metrics, pause=Pause(journal))
        rt.pause.config = lambda: rt.config  # the live config, after a reload too
        finisher = Finisher(rt)
        notifier = Sender(journal, lambda: rt.config, metrics)
        notifier.start()
        leasing = LeaseKeeper(rt, finisher)
        leasing.start()  # renews once recovery has said who we are (jobs/instances.py)
        parts = Pipeline(rt, finisher), Tracker(rt, finisher)
        return Parts(rt, finisher, *parts, notifier, FolderEvents(journal, lambda: rt.config), leasing)
    except BaseException:
        journal.close()
        raise


def start_web(cfg: Callable[[], Config], health: Health, probes: Probes) -> web_server.WebServer | None:
    """The front-desk page (None without `web:`), shown the folders' health and serving the daemon's own
    /healthz and /readyz. OSError when its address cannot be bound."""
    return web_server.start(cfg, lambda: dict(health.folder_up), health_routes(probes))
