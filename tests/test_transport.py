"""The HTTP under zeep (faxdropd/interfax/transport.py) against real loopback servers: kept-alive connections
reused and dropped ones replaced, proxies from the environment, and the one question the error classes need
answered: could the request have reached the server?"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from faxdropd.interfax.transport import ExchangeFailed, HttpTransport, NotConnected

BODY = b"<reply/>"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, keep_alive: bool) -> None:
        self.keep_alive = keep_alive
        self.connections = 0
        self.requests: list[tuple[str, str | None, bytes]] = []  # (request target, Proxy-Authorization, body)
        self.close_next = False
        self.closed = threading.Event()
        super().__init__(("127.0.0.1", 0), _Handler)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        self.closed.set()

    def get_request(self) -> tuple[socket.socket, Any]:
        self.connections += 1
        return super().get_request()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/dfs.asmx"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def setup(self) -> None:
        self.protocol_version = "HTTP/1.1" if self.server.keep_alive else "HTTP/1.0"
        super().setup()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((self.path, self.headers.get("Proxy-Authorization"), body))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
        if self.server.close_next:  # the server ends an idle kept-alive connection, as IIS does after a while
            self.server.close_next = False
            self.close_connection = True

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[_Server]:
    srv = _Server(keep_alive=getattr(request, "param", True))
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _transport(url: str) -> HttpTransport:
    return HttpTransport(url, verify=True, connect_timeout=2.0, timeout=5.0)


def _post(transport: HttpTransport, body: bytes = b"<call/>") -> bytes:
    reply = transport.post("ignored", body, {"SOAPAction": '"x"', "Content-Type": "text/xml; charset=utf-8"})
    assert reply.status_code == 200 and reply.encoding == "utf-8"
    return reply.content


def test_calls_share_one_kept_alive_connection(server: _Server) -> None:
    transport = _transport(server.url)
    assert [_post(transport) for _ in range(3)] == [BODY] * 3
    assert server.connections == 1
    assert [r[0] for r in server.requests] == ["/dfs.asmx"] * 3


def test_a_connection_the_server_closed_is_replaced_before_sending(server: _Server) -> None:
    transport = _transport(server.url)
    server.close_next = True
    _post(transport)
    assert server.closed.wait(5)
    # The server has closed its end: sending on it would fail after the request had (perhaps) left.
    assert _post(transport) == BODY
    assert server.connections == 2


@pytest.mark.parametrize("server", [False], indirect=True)
def test_an_http_1_0_server_gets_a_new_connection_per_call(server: _Server) -> None:
    transport = _transport(server.url)
    _post(transport)
    _post(transport)
    assert server.connections == 2


def test_no_connection_means_nothing_left() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(NotConnected) as info:
        _post(_transport(f"http://127.0.0.1:{port}/dfs.asmx"))
    assert not info.value.tls


def test_a_reset_after_the_request_left_is_an_exchange_failure() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    received: list[bytes] = []

    def reset_after_reading() -> None:
        conn, _ = listener.accept()
        received.append(conn.recv(65536))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()  # RST

    thread = threading.Thread(target=reset_after_reading, daemon=True)
    thread.start()
    try:
        with pytest.raises(ExchangeFailed):
            _post(_transport(f"http://127.0.0.1:{listener.getsockname()[1]}/dfs.asmx"))
        thread.join(5)
        assert received and received[0].startswith(b"POST /dfs.asmx")
    finally:
        listener.close()


def test_an_http_proxy_from_the_environment_gets_the_whole_address(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The "proxy" is the same loopback server: what matters is the request line it is sent.
    monkeypatch.setenv("http_proxy", f"http://user:secret@127.0.0.1:{server.server_address[1]}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    target = "http://interfax.example:8080/dfs.asmx"
    _post(_transport(target))
    assert server.requests[0][0] == target
    assert server.requests[0][1] == "Basic dXNlcjpzZWNyZXQ="  # user:secret


def test_no_proxy_is_honoured(server: _Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # the discard port: nothing listens there
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    _post(_transport(server.url))
    assert server.requests[0][:2] == ("/dfs.asmx", None)
