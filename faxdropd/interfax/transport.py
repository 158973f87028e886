"""HTTP under zeep: each thread's SOAP calls over one kept-alive http.client connection.

zeep stays the SOAP library (DESIGN §1); only the way its envelopes travel is ours. requests cost ~0.9 ms of
CPU for one SendfaxEx_2 of 100 KB on loopback against ~0.3 ms for http.client (docs/bench/notes.md, round 9),
and the daemon makes one such call per fax plus its share of the status queries.

What requests did for us is kept: the config's `verify_tls` (checked as faxdropd/tls.py says), proxies from
the environment (`https_proxy`, `no_proxy`, ...), two more connection attempts when the first cannot connect,
and one answer to "could any byte of the request have reached the server?": `NotConnected` and `NotSent`
mean no, `ExchangeFailed` means perhaps.

A document travels beside zeep's tree, not in it (`HttpTransport.beside`): zeep renders a short stand-in
for it, and the document's base64 takes the stand-in's place in the serialized envelope. Setting 133 KB of
base64 as an lxml text node and serializing it again cost ~0.5 ms of CPU per 100 KB fax (issue #19). The
base64 itself is pybase64's (SIMD): the standard library's took another ~0.1 ms per 100 KB.
"""

from __future__ import annotations

import base64
import http.client
import secrets
import select
import socket
import ssl
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import unquote, urlsplit

import pybase64
import zeep
from zeep.wsdl.utils import etree_to_string

from faxdropd import __version__
from faxdropd.tls import tls_context

CONNECT_ATTEMPTS = 3
# No wait before the 2nd attempt, 2 x 0.2 s before the 3rd (urllib3's Retry(backoff_factor=0.2), as before):
# a refused connection is tried again at once, a restarting proxy gets a moment.
_BACKOFF = 0.2


class NotConnected(Exception):
    """No connection could be made: nothing of the request left this host. `tls` when a certificate was
    refused (`reason` then says why, as OpenSSL put it)."""

    def __init__(self, reason: str, *, tls: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.tls = reason, tls


class NotSent(Exception):
    """The request was refused here, before any byte of it left: a bug, never the document's fault."""


class ExchangeFailed(Exception):
    """The connection failed or timed out after the request began to go out: it may have arrived."""


@dataclass(frozen=True)
class Reply:
    """What zeep reads of an HTTP response (requests' names)."""

    status_code: int
    headers: Message
    content: bytes

    @property
    def encoding(self) -> str | None:
        charset = self.headers.get_content_charset()
        return str(charset) if charset else None


@dataclass(frozen=True)
class _Route:
    """Where to connect and what to ask for: straight to the server, through a proxy's tunnel (https) or to
    a proxy with the whole URL (http)."""

    host: str
    port: int
    target: str
    tunnel: tuple[str, int] | None = None
    proxy_headers: tuple[tuple[str, str], ...] = ()


def _route(url: str) -> tuple[str, _Route]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) address: {parts.scheme}://{parts.hostname or ''}")
    host, port = parts.hostname, parts.port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    target = f"{path}?{parts.query}" if parts.query else path
    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(host):
        return scheme, _Route(host, port, target)
    via = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    headers: tuple[tuple[str, str], ...] = ()
    if via.username is not None:
        token = base64.b64encode(f"{unquote(via.username)}:{unquote(via.password or '')}".encode()).decode()
        headers = (("Proxy-Authorization", f"Basic {token}"),)
    proxy_host, proxy_port = via.hostname or "", via.port or 80
    if scheme == "https":
        return scheme, _Route(proxy_host, proxy_port, target, (host, port), headers)
    return scheme, _Route(proxy_host, proxy_port, url, None, headers)


class HttpTransport(zeep.Transport):
    """One thread's connection to one InterFAX endpoint; never shared between threads."""

    def __init__(self, url: str, *, verify: bool | str, connect_timeout: float, timeout: float) -> None:
        super().__init__(operation_timeout=timeout)  # type: ignore[no-untyped-call]
        self._scheme, self._route = _route(url)
        self._context = tls_context(verify) if self._scheme == "https" else None
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._conn: http.client.HTTPConnection | None = None
        # Through a plain-http proxy the proxy reads the credentials from each request; a tunnel sent them once.
        self._headers = {"User-Agent": f"faxdropd/{__version__}"}
        if self._route.tunnel is None:
            self._headers.update(self._route.proxy_headers)
        # Random per transport: no text a user wrote (a subject, a file name) can be taken for the stand-in.
        self._stand_in = secrets.token_bytes(30)  # 30 bytes: base64 without padding, so no "=" to escape
        self._stand_in_text = base64.b64encode(self._stand_in)
        self._payload: bytes | None = None

    @contextmanager
    def beside(self, payload: bytes) -> Iterator[bytes]:
        """Carry `payload` as the base64 value of one field of the next request: pass the yielded stand-in to
        zeep as that field's value. The request is refused (NotSent) unless the stand-in appears exactly once."""
        self._payload = pybase64.b64encode(payload)
        try:
            yield self._stand_in
        finally:
            self._payload = None

    def post_xml(self, address: str, envelope: Any, headers: dict[str, str]) -> Reply:
        message: bytes = etree_to_string(envelope)  # type: ignore[no-untyped-call]
        if self._payload is not None:
            # Base64 needs no escaping in XML text, so the bytes go in as they are.
            parts = message.split(self._stand_in_text)
            if len(parts) != 2:
                raise NotSent(f"the document's stand-in appears {len(parts) - 1} times in the request, not once")
            message = b"".join((parts[0], self._payload, parts[1]))
        return self.post(address, message, headers)

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> Reply:
        del address  # zeep passes the service's address back to us; ours was fixed when the transport was made
        conn = self._connection()
        try:
            conn.request("POST", self._route.target, body=message, headers={**self._headers, **headers})
            response = conn.getresponse()
            reply = Reply(response.status, response.headers, response.read())
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise ExchangeFailed(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            self.close()
        return reply

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is not None and not _dropped(self._conn):
            return self._conn
        self.close()
        for attempt in range(CONNECT_ATTEMPTS):
            conn = self._new()
            try:
                conn.connect()
            except ssl.SSLCertVerificationError as exc:
                conn.close()
                raise NotConnected(f"{exc.verify_message} (ssl error {exc.verify_code})", tls=True) from exc
            except ssl.SSLError as exc:
                conn.close()
                raise NotConnected(f"TLS handshake failed: {exc}", tls=True) from exc
            except OSError as exc:
                conn.close()
                if attempt + 1 == CONNECT_ATTEMPTS:
                    raise NotConnected(f"{type(exc).__name__}: {exc}") from exc
                time.sleep(_BACKOFF * attempt * 2)
                continue
            assert conn.sock is not None
            conn.sock.settimeout(self._timeout)
            self._conn = conn
            return conn
        raise AssertionError("unreachable")

    def _new(self) -> http.client.HTTPConnection:
        route = self._route
        conn: http.client.HTTPConnection
        if self._context is not None:
            conn = http.client.HTTPSConnection(route.host, route.port, timeout=self._connect_timeout,
                                               context=self._context)  # fmt: skip
        else:
            conn = http.client.HTTPConnection(route.host, route.port, timeout=self._connect_timeout)
        if route.tunnel is not None:
            conn.set_tunnel(*route.tunnel, headers=dict(route.proxy_headers))
        return conn


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """A kept-alive connection the server has since closed reads as ready (EOF): do not send on it."""
    sock: socket.socket | None = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
