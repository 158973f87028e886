"""The daemon from start to stop: the metrics endpoint, the parts (wiring.build), the main loop, the web page.

It opens what the main loop runs on and closes it again whatever happens; the loop itself is `mainloop.py`.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from faxdropd import log as logmod
from faxdropd.config import Config
from faxdropd.daemon import wiring
from faxdropd.daemon.mainloop import MainLoop
from faxdropd.daemon.metrics import Metrics, NullMetrics
from faxdropd.daemon.signals import SignalFlags

log = structlog.get_logger("faxdropd.daemon.service")


class Daemon:
    """Start to stop: the metrics endpoint, the parts (wiring.build), the main loop; closes what it opened."""

    def __init__(self, cfg: Config, config_path: Path | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.flags = SignalFlags()

    def request_stop(self) -> None:
        self.flags.should_exit = True

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
        try:
            parts = wiring.build(cfg, metrics)
            try:
                loop = MainLoop(cfg, self.config_path, parts, self.flags)
                metrics.probes = loop.probes
                try:
                    page = wiring.start_web(lambda: loop.cfg, loop.health, loop.probes)
                except OSError as exc:
                    log.critical("daemon.failed", error=f"web.listen {cfg.web.listen if cfg.web else ''}: {exc}")
                    return 1
                try:
                    loop.run()
                finally:
                    if page is not None:
                        page.stop()
            finally:
                parts.close()
        finally:
            metrics.stop()
        return 0
