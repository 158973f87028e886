"""A real HTTP webhook receiver on 127.0.0.1 that checks faxdropd's HMAC signature and can misbehave on demand."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ._util import free_port

SIGNATURE_HEADER = "X-Faxdropd-Signature"
WEBHOOK_TEST_SECRET = "webhook-secret-for-tests"


def sign(body: bytes, secret: str | bytes) -> str:
    """The header value a correct sender puts in X-Faxdropd-Signature."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookRequest:
    """One POST as the receiver saw it, and how it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    json: Any
    signature_valid: bool
    status: int

    def header(self, name: str) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


class _Server(ThreadingHTTPServer):
    # Each request thread must not keep the interpreter alive after a test.
    daemon_threads = True
    allow_reuse_address = True
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0 closes after each answer, so `down()` never has to wait for idle keep-alive connections.
    protocol_version = "HTTP/1.0"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        receiver = self.server.receiver
        status = receiver._next_status()
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = None
        receiver._record(
            WebhookRequest(
                path=self.path,
                headers=dict(self.headers.items()),
                body=body,
                json=parsed,
                signature_valid=receiver.verify(body, self.headers.get(SIGNATURE_HEADER)),
                status=status,
            )
        )
        payload = json.dumps({"ok": 200 <= status < 300}).encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Every request is already recorded; the default prints each one to stderr.
        return


class WebhookReceiver:
    """Records each POST, checks `X-Faxdropd-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.

    `fail_next(n, status)` answers the next n requests with `status` (e.g. 500, 408, 429, 404) instead
    of 200; `down()` closes the listening socket so connections are refused, `up()` reopens the same port.
    """

    def __init__(self, secret: str | bytes = WEBHOOK_TEST_SECRET, port: int | None = None, host: str = "127.0.0.1"):
        self.secret = secret.encode() if isinstance(secret, str) else secret
        self.host = host
        self.port = port or free_port(host)
        self.default_status = 200
        self._cond = threading.Condition()
        self._requests: list[WebhookRequest] = []
        self._forced: deque[int] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def verify(self, body: bytes, header: str | None) -> bool:
        if not header or not header.startswith("sha256="):
            return False
        expected = hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(header.removeprefix("sha256=").strip().lower(), expected)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.up()

    def up(self) -> None:
        if self._server is not None:
            return
        server = _Server((self.host, self.port), _Handler)
        server.receiver = self
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kit-webhook", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def down(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    stop = down

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour -------------------------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int) -> None:
        """Answer the next `count` requests with `status`, then 200 again (calls queue up in order)."""
        with self._cond:
            self._forced.extend([status] * count)

    def reset(self) -> None:
        with self._cond:
            self._forced.clear()
            self._requests.clear()

    def _next_status(self) -> int:
        with self._cond:
            return self._forced.popleft() if self._forced else self.default_status

    def _record(self, request: WebhookRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    # -- inspection ------------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[WebhookRequest]:
        with self._cond:
            return list(self._requests)

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[WebhookRequest]:
        """Block until at least `count` requests were received; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} webhook request(s) within {timeout}s, got {len(self._requests)}")
            return list(self._requests)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A running receiver whose secret is WEBHOOK_TEST_SECRET; `.url` is where to POST."""
    receiver = WebhookReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        with contextlib.suppress(Exception):
            receiver.stop()
