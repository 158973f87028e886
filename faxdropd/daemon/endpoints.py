"""The HTTP routes of the metrics listener: `/healthz`, `/readyz`, `/metrics`; 404 for anything else.

Liveness and readiness answer different questions (Kubernetes' probes, operations.md §5):
- `/healthz` — is the process making progress? 200 while the main loop has ticked within `stall_after`
  seconds, else 503. It never looks at InterFAX, the shares or the journal: an outage of any of them must
  not turn into a restart storm, which is what a failing liveness probe causes.
- `/readyz` — can it do its work now? 200, or 503 with a JSON body naming each cause: sending paused
  account-wide, a hot folder down, the journal failing. `?verbose` is not needed: the body always says why.

The routes are one WSGI callable (:func:`make_app`) over a :class:`Probes`, so the front-desk web page can
mount the same handlers: the daemon, which ranks above the web room, hands it :func:`health_routes`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

__all__ = ["STALL_AFTER", "Probes", "Server", "health_routes", "make_app"]

# A main loop pass takes 0.2 s plus its work; 30 s without one is a hang (a stuck claim, a wedged journal),
# well inside a typical probe's failureThreshold times periodSeconds.
STALL_AFTER = 30.0

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Probes:
    """What the probes read. The main loop calls :meth:`tick` every pass; `causes` lists why it is not ready.

    `causes` is called on the HTTP thread for each `/readyz`: it must be cheap and must not wait on the main
    loop (the daemon's reads the pause, the folders' last health and the journal's own check).
    """

    def __init__(self, causes: Callable[[], list[str]] | None = None, *, stall_after: float = STALL_AFTER) -> None:
        self.causes = causes
        self.stall_after = stall_after
        self._last_tick: float | None = None

    def tick(self) -> None:
        self._last_tick = time.monotonic()

    def alive(self) -> tuple[bool, str]:
        last = self._last_tick
        if last is None:
            return False, "the main loop has not started"
        age = time.monotonic() - last
        if age > self.stall_after:
            return False, f"the main loop has not run for {age:.0f} s"
        return True, "ok"

    def not_ready(self) -> list[str]:
        alive, why = self.alive()
        causes = [] if alive else [why]
        if self.causes is not None:
            try:
                causes += self.causes()
            except Exception as exc:  # a check that breaks is itself a reason not to take traffic
                causes.append(f"readiness check failed: {type(exc).__name__}: {exc}")
        return causes


def _reply(start: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
    data = json.dumps(body).encode() + b"\n"
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(data))), ("Cache-Control", "no-store")]
    start(status, headers)
    return [data]


def health_routes(probes: Probes) -> dict[str, WsgiApp]:
    """`/healthz` and `/readyz` as WSGI callables by path, for any server that mounts them."""

    def healthz(environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        alive, why = probes.alive()
        return _reply(start, "200 OK" if alive else "503 Service Unavailable", {"status": "ok" if alive else why})

    def readyz(environ: dict[str, Any], start: StartResponse) -> list[bytes]:
        causes = probes.not_ready()
        if causes:
            return _reply(start, "503 Service Unavailable", {"status": "not ready", "causes": causes})
        return _reply(start, "200 OK", {"status": "ready", "causes": []})

    return {"/healthz": healthz, "/readyz": readyz}


def make_app(registry: CollectorRegistry, probes: Probes) -> WsgiApp:
    routes = {**health_routes(probes), "/metrics": make_wsgi_app(registry)}

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        route = routes.get(environ.get("PATH_INFO") or "/")
        if route is None:
            return _reply(start, "404 Not Found", {"status": "not found", "paths": sorted(routes)})
        return route(environ, start)

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a probe every few seconds must not fill the log


class _Threading(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up shutdown


class _Threading6(_Threading):
    address_family = socket.AF_INET6


class Server:
    """`app` served on (host, port) in a daemon thread; port 0 picks a free port (see :attr:`address`)."""

    def __init__(self, host: str, port: int, app: WsgiApp) -> None:
        cls = _Threading6 if ":" in host else _Threading
        self._httpd = make_server(host, port, app, cls, handler_class=_Quiet)
        self.address = (host, int(self._httpd.server_address[1]))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
