"""Building the daemon's parts, in one place, each handed what it needs (nothing fished out of another part)."""

from __future__ import annotations

from dataclasses import dataclass

from faxdropd.config import Config
from faxdropd.daemon.metrics import Metrics, NullMetrics
from faxdropd.interfax.client import ClientFactory, ClientSettings
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.pipeline import Pipeline
from faxdropd.jobs.runtime import Pause, Runtime
from faxdropd.jobs.tracker import Tracker
from faxdropd.notify.sender import Sender


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
    notifier: Sender

    def close(self) -> None:
        self.rt.journal.close()
        self.rt.clients.close()


def build(cfg: Config, metrics: Metrics | NullMetrics) -> Parts:
    """Open the journal (taking the state directory's lock: JournalLocked if another daemon has it) and wire
    the parts around it. The finisher is shared: the pipeline, the tracker and the refile pass all end jobs."""
    journal = Journal(cfg.state_dir)
    try:
        clients = ClientFactory(client_settings(cfg), observer=metrics.call)
        rt = Runtime(config=cfg, journal=journal, clients=clients, metrics=metrics, pause=Pause(journal))
        finisher = Finisher(rt)
        notifier = Sender(journal, lambda: rt.config, metrics)
        return Parts(rt, finisher, Pipeline(rt, finisher), Tracker(rt, finisher), notifier)
    except BaseException:
        journal.close()
        raise
