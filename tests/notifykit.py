"""Real servers for notification tests: an SMTP server (aiosmtpd) with STARTTLS and AUTH, and an HTTP receiver.

The SMTP server listens on 127.0.0.1 with a certificate made at runtime by a throwaway CA; the client trusts
that CA through `verify_tls: <path>`, so verification is exercised, not switched off. It can refuse every
message (451), drop connections, or be stopped and started again on the same port. The webhook receiver
checks each POST's signature with hmac.compare_digest and records what it got.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from kit.tls import make_tls_files

SMTP_USER = "fax@example.org"
SMTP_PASSWORD = "smtp-Pa55word!"  # test-only, scanned for in logs, receipts and the journal
WEBHOOK_SECRET = "whsec-test-Secret!"


def make_pki(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost: (CA, certificate, key), from the kit's maker."""
    files = make_tls_files(folder)
    return files.ca_path, files.cert_path, files.key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    tls: bool
    user: str | None


@dataclass
class _Handler:
    server: MailServer

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.mode == "refuse":
            self.server.refused += 1
            return "451 4.3.0 try again later"
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        auth = session.auth_data if session.authenticated else None
        user = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.server.lock:
            self.server.received.append(
                Received(
                    str(envelope.mail_from),
                    list(envelope.rcpt_tos),
                    msg,
                    smtp._tls_protocol is not None,
                    user,
                )
            )
        return "250 OK"


def _authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword) and data.login == SMTP_USER.encode() and data.password == SMTP_PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False, auth_data=data)


class _DroppingSMTP(SMTP):
    """Closes the connection as soon as a client connects, in `drop` mode."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if getattr(self.event_handler, "server").mode == "drop":  # noqa: B009
            transport.abort()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _DroppingSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class MailServer:
    """aiosmtpd on 127.0.0.1 with STARTTLS required and AUTH required. `mode`: ok | refuse | drop."""

    pki: tuple[Path, Path, Path]
    port: int = field(default_factory=free_port)
    mode: str = "ok"
    received: list[Received] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _controller: Controller | None = None

    def start(self) -> MailServer:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.pki[1], self.pki[2])
        self._controller = _Controller(
            _Handler(self),
            hostname="127.0.0.1",
            port=self.port,
            tls_context=context,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=_authenticator,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def ca(self) -> Path:
        return self.pki[0]

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def smtp_config(self, **extra: Any) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "security": "starttls",
            "username": SMTP_USER,
            "password_env": "FAXDROPD_SMTP_PASSWORD",
            "from": "Fax <fax@example.org>",
            "verify_tls": str(self.ca),
            "timeout": 5,
            **extra,
        }


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes
    signed_ok: bool

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class WebhookReceiver:
    """http.server in a thread; answers `status` (200 unless set) and checks X-Faxdropd-Signature."""

    def __init__(self, secret: str = WEBHOOK_SECRET) -> None:
        self.secret = secret.encode()
        self.status = 200
        self.retry_after: str | None = None
        self.hooks: list[Hook] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                expected = "sha256=" + hmac.new(receiver.secret, body, hashlib.sha256).hexdigest()
                given = self.headers.get("X-Faxdropd-Signature", "")
                ok = hmac.compare_digest(expected.encode(), given.encode())
                with receiver.lock:
                    receiver.hooks.append(Hook(self.path, dict(self.headers.items()), body, ok))
                    status = receiver.status
                self.send_response(status if ok else 401)
                if receiver.retry_after is not None:
                    self.send_header("Retry-After", receiver.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/fax"

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def received(self) -> list[Hook]:
        with self.lock:
            return list(self.hooks)


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailServer]:
    """A real SMTP server on loopback with STARTTLS and AUTH (registered for every test module in conftest)."""
    server = MailServer(make_pki(tmp_path / "pki")).start()
    yield server
    server.stop()


@pytest.fixture
def hooks() -> Iterator[WebhookReceiver]:
    """A real HTTP receiver on loopback that records each POST and checks its signature."""
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()
