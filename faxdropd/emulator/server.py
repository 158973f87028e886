"""The InterFAX emulator over real HTTP: a threaded wsgiref server on loopback (`EmulatorServer`), used by the
tests, by `demo` and by `faxdropd emulator` (`serve_forever`)."""

from __future__ import annotations

import signal
import ssl
import threading
from pathlib import Path
from socketserver import TCPServer, ThreadingMixIn
from types import FrameType, TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import structlog

from faxdropd.emulator.app import SOCKET_KEY, EmulatorApp
from faxdropd.emulator.state import Emulator

__all__ = ["EmulatorApp", "EmulatorServer", "serve_forever"]
_log = structlog.get_logger(__name__)


class _Handler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, str]:
        environ: dict[str, Any] = dict(super().get_environ())
        environ[SOCKET_KEY] = self.connection
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("emulator.request", client=self.address_string(), line=format % args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall for seconds.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("emulator.connection_failed", client=str(client_address), exc_info=True)


class EmulatorServer:
    """A running emulator on loopback; `port=0` picks a free port. Usable as a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        username: str = "demo",
        password: str = "demo-password",  # noqa: S107 - the emulator's documented demo account
        store: Path | None = None,
        status_delay: float = 2.0,
        query_limit: int = 6,
        query_window: float = 60.0,
        max_items: int = 100,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
    ) -> None:
        self.emulator = Emulator(
            username=username, password=password, store=store, status_delay=status_delay,
            query_limit=query_limit, query_window=query_window, max_items=max_items,
        )  # fmt: skip
        self._host, self._port = host, port
        self._tls = (tls_cert, tls_key)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return "https" if self._tls[0] else "http"

    @property
    def port(self) -> int:
        return self._server.server_port if self._server else self._port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self._host in ("", "0.0.0.0") else self._host
        return f"{self.scheme}://{host}:{self.port}/dfs.asmx"

    def start(self) -> EmulatorServer:
        if self._server is not None:
            return self
        self.emulator.stopping.clear()
        app = EmulatorApp(self.emulator, self.scheme)
        server = make_server(self._host, self._port, app, server_class=_Server, handler_class=_Handler)
        cert, key = self._tls
        if cert is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            # The handshake then runs in the request thread, not in the accept loop a slow client could block.
            server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="faxdropd-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self.emulator.stopping.set()  # ends injected hangs; their connections are reset
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(
    host: str,
    port: int,
    store: Path | None,
    username: str,
    password: str,
    status_delay: float,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """`faxdropd emulator`: print the URL, serve until Ctrl-C or SIGTERM."""
    server = EmulatorServer(
        host, port, username=username, password=password, store=store, status_delay=status_delay,
        tls_cert=tls_cert, tls_key=tls_key,
    ).start()  # fmt: skip
    done = threading.Event()

    def _terminate(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = (
        signal.signal(signal.SIGTERM, _terminate) if threading.current_thread() is threading.main_thread() else None
    )
    print(
        f"InterFAX emulator listening on {server.url} (WSDL: {server.url}?WSDL, user {username!r})",
        flush=True,
    )
    if store is not None:
        print(f"storing received documents under {store}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
