"""The InterFAX emulator over real HTTP: a threaded wsgiref server on loopback (`EmulatorServer`), used by the
tests, by `demo` and by `faxdropd emulator` (`serve_forever`)."""

from __future__ import annotations

import contextlib
import io
import signal
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import TCPServer, ThreadingMixIn
from types import FrameType, TracebackType
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

import structlog

from faxdropd.emulator.app import SOCKET_KEY, EmulatorApp
from faxdropd.emulator.state import Emulator

__all__ = ["EmulatorApp", "EmulatorServer", "serve_forever"]
_log = structlog.get_logger(__name__)


# IIS closes a kept-alive connection idle for two minutes (its connectionTimeout default).
IDLE_TIMEOUT = 120.0
UNREAD_LIMIT = 1 << 20  # bytes of an unread request body skipped to keep the connection; more: it is closed


class _Body:
    """The request body as the application sees it: reads stop at Content-Length, and what is left unread is
    known, so the connection is closed rather than read the rest as the next request."""

    def __init__(self, stream: io.BufferedIOBase, length: int) -> None:
        self.stream, self.left = stream, length

    def read(self, size: int | None = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.read(size) if size > 0 else b""
        self.left -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        size = self.left if size is None or size < 0 else min(size, self.left)
        data = self.stream.readline(size) if size > 0 else b""
        self.left -= len(data)
        return data

    def readlines(self, hint: int = -1) -> list[bytes]:
        return list(self)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _Reply(ServerHandler):
    http_version = "1.1"
    framed = False  # the reply said its length: the connection can carry the next request
    request_handler: WSGIRequestHandler  # wsgiref logs through it

    def close(self) -> None:
        headers = getattr(self, "headers", None)  # set by start_response; typeshed does not declare it
        self.framed = headers is not None and "Content-Length" in headers
        super().close()


class _Handler(WSGIRequestHandler):
    """HTTP/1.1 with kept-alive connections, as InterFAX's IIS serves them: a client's next call goes over the
    connection it already has (wsgiref's own handler answers one request per connection)."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: _Server

    def setup(self) -> None:
        super().setup()
        # wsgiref writes a reply's headers and its body apart: without this, Nagle holds the body back until
        # the client acknowledges the headers, which a client on a kept-alive connection delays (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self) -> None:
        self.close_connection = True
        self._one()
        while not self.close_connection and not self.server.stopping.is_set():
            self._one()

    def _one(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except TimeoutError:  # idle too long
            self.close_connection = True
            return
        if not self.raw_requestline or len(self.raw_requestline) > 65536:
            self.close_connection = True
            return
        if not self.parse_request():  # an error was sent; parse_request chose whether to close
            return
        environ = self.get_environ()
        body = _Body(self.rfile, int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = body
        app = self.server.get_app()
        if app is None:
            return
        reply = _Reply(body, cast(IO[bytes], self.wfile), self.get_stderr(), environ, multithread=True)
        reply.request_handler = self
        reply.run(app)
        if 0 < body.left <= UNREAD_LIMIT:
            body.read()  # a body the application had no use for (a 404's): the next request follows it
        if body.left or not reply.framed:
            self.close_connection = True  # the stream is not at the next request's start, or unframed

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = dict(super().get_environ())
        environ[SOCKET_KEY] = self.connection
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("emulator.request", client=self.address_string(), line=format % args)


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    stopping: threading.Event

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup that can stall for seconds.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._open_lock:
                self._open.discard(request)

    def drop_connections(self) -> None:
        """A stopped emulator answers nothing more, kept-alive connections included (InterFAX going down)."""
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

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
        server.stopping = self.emulator.stopping
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
        server.drop_connections()
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
