"""Real SMTP servers (aiosmtpd) on 127.0.0.1 with switchable failure modes, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import shutil
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal, cast

import pytest

from ._util import free_port, unavailable
from .tls import TlsFiles, make_tls_files

try:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
except ImportError:  # pragma: no cover - the fixtures report it
    Controller = None  # type: ignore[assignment,misc]

TlsMode = Literal["none", "starttls", "implicit"]

REFUSE_REPLY = "451 4.3.0 Temporary failure (test server in refuse mode)"


@dataclass(frozen=True)
class CapturedMail:
    """One message accepted by the server, with its SMTP envelope."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes
    login: str | None
    tls: bool


class SmtpServer:
    """An SMTP server on 127.0.0.1.

    tls: "none" (plain), "starttls" (STARTTLS required before anything else) or "implicit" (TLS from the
    first byte, as on port 465). With `username`/`password`, AUTH (PLAIN, LOGIN) is required before MAIL and
    is only offered once the connection is encrypted.

    Faults, switchable while running: `refuse = True` answers 451 to MAIL, RCPT and DATA; `drop = True`
    closes each connection (new ones at once, open ones at their next MAIL/RCPT/DATA); `down()` stops
    listening and cuts open connections, `up()` listens again on the same port.
    """

    def __init__(
        self,
        *,
        tls: TlsMode = "none",
        username: str | None = None,
        password: str | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if Controller is None:
            raise RuntimeError("aiosmtpd is not installed (pip install aiosmtpd)")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        if username is not None and tls == "none":
            raise ValueError("AUTH is only offered over TLS; use tls='starttls' or tls='implicit'")
        self.host = host
        self.port = port or free_port(host)
        self.tls_mode: TlsMode = tls
        self.username = username
        self.password = password
        self.refuse = False
        self.drop = False
        self._tmp: Path | None = None
        self.tls_files: TlsFiles | None = None
        if tls != "none":
            self._tmp = Path(tempfile.mkdtemp(prefix="kit-smtp-"))
            self.tls_files = make_tls_files(self._tmp)
        self._cond = threading.Condition()
        self._captured: list[CapturedMail] = []
        self._connections = 0
        self._live: set[_KitSMTP] = set()
        self._controller: _KitController | None = None

    # -- TLS material ------------------------------------------------------------------------------------------

    @property
    def ca_path(self) -> Path:
        """The CA certificate to give `ssl.create_default_context(cafile=...)`."""
        if self.tls_files is None:
            raise AttributeError("a plain SMTP server has no certificate")
        return self.tls_files.ca_path

    @property
    def cert_path(self) -> Path:
        if self.tls_files is None:
            raise AttributeError("a plain SMTP server has no certificate")
        return self.tls_files.cert_path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's CA."""
        return ssl.create_default_context(cafile=str(self.ca_path))

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.up()

    def up(self) -> None:
        """Listen (again) on the same port."""
        if self._controller is not None:
            return
        kwargs: dict[str, Any] = {
            # A fixed name: the default asks the resolver for the FQDN, which can stall without DNS.
            "server_hostname": "kit-smtp.localhost",
            "ready_timeout": 10.0,
        }
        server_ctx = self.tls_files.server_context() if self.tls_files is not None else None
        if self.tls_mode == "implicit":
            kwargs["ssl_context"] = server_ctx
        elif self.tls_mode == "starttls":
            kwargs["tls_context"] = server_ctx
            kwargs["require_starttls"] = True
        if self.username is not None:
            kwargs["authenticator"] = self._authenticate
            kwargs["auth_required"] = True
            kwargs["auth_require_tls"] = True
        controller = _KitController(self, _Handler(self), hostname=self.host, port=self.port, **kwargs)
        controller.start()
        self._controller = controller

    def down(self) -> None:
        """Stop listening and cut every open connection, as if the host went away."""
        controller = self._controller
        if controller is None:
            return
        self._controller = None

        async def _cut() -> None:
            for proto in list(self._live):
                if proto.transport is not None:
                    cast(asyncio.Transport, proto.transport).abort()

        # Aborting on the server's own loop thread, because asyncio transports are not thread-safe.
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_cut(), controller.loop).result(timeout=5)
        controller.stop()

    @property
    def is_up(self) -> bool:
        return self._controller is not None

    def stop(self) -> None:
        self.down()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def reset_faults(self) -> None:
        self.refuse = False
        self.drop = False

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- captured mail ---------------------------------------------------------------------------------------------

    @property
    def captured(self) -> list[CapturedMail]:
        with self._cond:
            return list(self._captured)

    @property
    def messages(self) -> list[EmailMessage]:
        return [c.message for c in self.captured]

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted, including dropped ones."""
        with self._cond:
            return self._connections

    def clear(self) -> None:
        with self._cond:
            self._captured.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[CapturedMail]:
        """Block until at least `count` messages were captured; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._captured) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self._captured)}")
            return list(self._captured)

    # -- hooks called from the server thread ------------------------------------------------------------------

    def _record(self, mail: CapturedMail) -> None:
        with self._cond:
            self._captured.append(mail)
            self._cond.notify_all()

    def _connected(self, proto: _KitSMTP) -> None:
        with self._cond:
            self._connections += 1
            self._live.add(proto)

    def _disconnected(self, proto: _KitSMTP) -> None:
        with self._cond:
            self._live.discard(proto)

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
        if not isinstance(data, LoginPassword) or self.username is None or self.password is None:
            return AuthResult(success=False, handled=False)
        ok_user = hmac.compare_digest(data.login, self.username.encode())
        ok_pass = hmac.compare_digest(data.password, self.password.encode())
        if ok_user and ok_pass:
            return AuthResult(success=True, auth_data=data)
        # handled=False lets aiosmtpd send its standard 535 reply.
        return AuthResult(success=False, handled=False)

    def _fault_reply(self, server: SMTP) -> str | None:
        if self.drop:
            if server.transport is not None:
                cast(asyncio.Transport, server.transport).abort()
            return "421 4.3.0 Connection dropped"
        if self.refuse:
            return REFUSE_REPLY
        return None


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.owner._fault_reply(server)
        if fault is not None:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.owner._fault_reply(server)
        if fault is not None:
            return fault
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = self.owner._fault_reply(server)
        if fault is not None:
            return fault
        raw = envelope.original_content or b""
        # SMTP carries CRLF line ends; the parser would keep them inside text parts, so the parsed message uses
        # Python's LF convention while `raw` keeps the bytes exactly as received.
        message = message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email_policy.default)
        auth = session.auth_data
        login = auth.login.decode(errors="replace") if isinstance(auth, LoginPassword) else None
        self.owner._record(
            CapturedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=message,
                raw=raw,
                login=login,
                tls=session.ssl is not None or self.owner.tls_mode == "implicit",
            )
        )
        return "250 2.0.0 OK: queued"


if Controller is not None:

    class _KitSMTP(SMTP):
        def __init__(self, owner: SmtpServer, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._owner = owner
            if owner.tls_mode == "implicit":
                # aiosmtpd only counts STARTTLS as encryption and would never offer AUTH on an implicit-TLS
                # listener, where every connection is encrypted before the first byte.
                self._auth_require_tls = False

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            first = self.transport is None
            super().connection_made(transport)
            if first:
                self._owner._connected(self)
                if self._owner.drop:
                    cast(asyncio.Transport, transport).abort()

        def connection_lost(self, error: Exception | None) -> None:
            self._owner._disconnected(self)
            super().connection_lost(error)

    class _KitController(Controller):
        def __init__(self, owner: SmtpServer, handler: Any, **kwargs: Any) -> None:
            super().__init__(handler, **kwargs)
            self._owner = owner

        def factory(self) -> _KitSMTP:
            return _KitSMTP(self._owner, self.handler, **self.SMTP_kwargs)

        def _trigger_server(self) -> None:
            # In drop mode the probe connection is cut on purpose; the listener is up all the same.
            with contextlib.suppress(OSError):
                super()._trigger_server()  # type: ignore[no-untyped-call]


def _new_server(**kwargs: Any) -> SmtpServer:
    if Controller is None:
        unavailable("aiosmtpd is not installed (pip install aiosmtpd)")
    return SmtpServer(**kwargs)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A plain SMTP server (no TLS, no AUTH)."""
    server = _new_server()
    server.start()
    try:
        yield server
    finally:
        server.stop()


SMTP_TEST_USER = "faxdropd"
SMTP_TEST_PASSWORD = "s3cret-for-tests"


@pytest.fixture
def smtp_tls_server() -> Iterator[SmtpServer]:
    """An SMTP server that requires STARTTLS, then AUTH as SMTP_TEST_USER / SMTP_TEST_PASSWORD."""
    server = _new_server(tls="starttls", username=SMTP_TEST_USER, password=SMTP_TEST_PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()
