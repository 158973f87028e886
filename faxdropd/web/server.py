"""Serving the page inside the daemon: a waitress server (a production WSGI server with its own thread pool)
on a thread of its own, started and stopped by the daemon.

The page's threads only read the journal through their own read-only connections (reads.py), so a busy page
costs the daemon CPU time at most, never a held lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import structlog
from waitress.server import create_server

from faxdropd.config import Config
from faxdropd.jobs.opening import target_of
from faxdropd.web.app import WebApp, WsgiApp
from faxdropd.web.reads import JournalView

log = structlog.get_logger(__name__)

THREADS = 4
STOP_WAIT = 5.0


class WebServer:
    def __init__(
        self,
        cfg: Callable[[], Config],
        folder_up: Callable[[], dict[str, bool]],
        health: Mapping[str, WsgiApp] | None = None,
    ) -> None:
        config = cfg()
        web = config.web
        assert web is not None
        self.app = WebApp(cfg, JournalView(config.state_dir, target_of(config)), folder_up, health)
        # Binds now, so a taken port is an error at start (OSError), not a silent thread death later.
        self._server = create_server(
            self.app,
            host=web.host,
            port=web.port,
            threads=THREADS,
            ident="",  # no Server header naming the software
            expose_tracebacks=False,
            channel_timeout=60,
        )
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)

    @property
    def address(self) -> str:
        host, port = self._server.effective_host, self._server.effective_port  # type: ignore[union-attr]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"

    def _serve(self) -> None:
        try:
            self._server.run()
        except Exception:  # the page is an extra: its failure must not take the daemon down
            log.exception("web.failed")

    def start(self) -> WebServer:
        self._thread.start()
        log.info("web.listening", address=self.address, url=f"http://{self.address}/")
        return self

    def stop(self) -> None:
        self._server.close()
        self._thread.join(STOP_WAIT)


def start(
    cfg: Callable[[], Config],
    folder_up: Callable[[], dict[str, bool]],
    health: Mapping[str, WsgiApp] | None = None,
) -> WebServer | None:
    """The running page, or None when the config has no `web:` block."""
    if cfg().web is None:
        return None
    return WebServer(cfg, folder_up, health).start()
