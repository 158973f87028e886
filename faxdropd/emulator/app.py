"""The InterFAX emulator's WSGI application: routing, SOAP dispatch with injected faults, and the
/_emulator admin endpoints (ledger, faults, reset)."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from faxdropd.emulator.faults import BEFORE_WORK, FaultSpecError
from faxdropd.emulator.ops import HANDLERS
from faxdropd.emulator.soap import (
    CONTENT_TYPE,
    Call,
    SoapFault,
    UnsupportedMedia,
    envelope,
    error_response,
    fault_document,
    read_call,
    wsdl_bytes,
)
from faxdropd.emulator.state import Emulator

StartResponse = Callable[..., Any]
Environ = dict[str, Any]
# Where the request handler puts the raw socket: a connection reset cannot be expressed in WSGI.
SOCKET_KEY = "faxdropd.emulator.state.socket"
_WSDL_ADDRESS = b'location="https://ws.interfax.net/dfs.asmx"'
_log = structlog.get_logger(__name__)


def _abort(environ: Environ) -> None:
    """Drop the connection without a byte of reply (RST on close): the client sees a reset, not a response."""
    sock: socket.socket | None = environ.get(SOCKET_KEY)
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    # wsgiref's handler treats this exception as "client went away" and writes nothing more.
    raise ConnectionAbortedError("emulator fault: connection reset")


class EmulatorApp:
    def __init__(self, emulator: Emulator, scheme: str) -> None:
        self.emulator, self.scheme = emulator, scheme

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        if path.startswith("/_emulator/"):
            return self._admin(method, path, environ, start_response)
        if path.lower() != "/dfs.asmx":
            return _reply(start_response, "404 Not Found", b"not found\n", "text/plain")
        if method == "GET" and environ.get("QUERY_STRING", "").lower() == "wsdl":
            # Like ASMX, the WSDL names the address it was fetched from.
            host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
            here = f'location="{self.scheme}://{host}/dfs.asmx"'.encode()
            return _reply(start_response, "200 OK", wsdl_bytes().replace(_WSDL_ADDRESS, here), CONTENT_TYPE["1.1"])
        if method == "GET":
            return _reply(start_response, "200 OK", b"InterFAX emulator: POST SOAP here, GET ?WSDL\n", "text/plain")
        if method != "POST":
            return _reply(start_response, "405 Method Not Allowed", b"", "text/plain")
        return self._soap(environ, start_response)

    def _soap(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        emu = self.emulator
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else b""
        content_type = environ.get("CONTENT_TYPE", "")
        version = "1.2" if "soap+xml" in content_type else "1.1"
        try:
            call = read_call(body, content_type, environ.get("HTTP_SOAPACTION"))
        except UnsupportedMedia as exc:
            return _reply(start_response, "415 Unsupported Media Type", f"{exc}\n".encode(), "text/plain")
        except SoapFault as exc:
            emu.record_call(exc.op, None, "soap:Client")
            document = fault_document(version, str(exc), sender=exc.sender, version_mismatch=exc.version_mismatch)
            return _reply(start_response, "500 Internal Server Error", document, CONTENT_TYPE[version])
        with emu.serving(call.op):
            return self._answer(call, version, environ, start_response)

    def _answer(self, call: Call, version: str, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        emu, op = self.emulator, call.op
        fault = emu.faults.take(op)
        kind = fault.kind if fault else None
        if fault is not None and kind in BEFORE_WORK:
            if kind in ("latency", "hang") and emu.stopping.wait(fault.seconds):
                emu.record_call(op, None, kind)
                _abort(environ)
            if kind == "error":
                emu.record_call(op, fault.code, kind)
                return _reply(start_response, "200 OK", envelope(version, error_response(op, fault.code)),
                              CONTENT_TYPE[version])  # fmt: skip
            if kind == "reset":
                emu.record_call(op, None, kind)
                _abort(environ)
            if kind == "http500":
                emu.record_call(op, None, kind)
                return self._server_fault(start_response, version, "emulator fault: server error")
        try:
            code, payload = HANDLERS[op](emu, call.element)
        except Exception:
            _log.exception("emulator.operation_failed", operation=op)
            emu.record_call(op, None, "soap:Server")
            return self._server_fault(start_response, version, "Server was unable to process request.")
        emu.record_call(op, code, kind)
        document = envelope(version, payload)
        if kind == "truncate":
            # Framing stays valid (Content-Length matches) so the client reads a complete but broken document.
            document = document[: len(document) // 2]
        elif kind == "http500_after_accept":
            return self._server_fault(start_response, version, "emulator fault: server error after accept")
        elif kind == "reset_after_accept" or (
            kind == "hang_after_accept" and fault is not None and emu.stopping.wait(fault.seconds)
        ):
            _abort(environ)
        return _reply(start_response, "200 OK", document, CONTENT_TYPE[version])

    @staticmethod
    def _server_fault(start_response: StartResponse, version: str, message: str) -> Iterable[bytes]:
        document = fault_document(version, message, sender=False)
        return _reply(start_response, "500 Internal Server Error", document, CONTENT_TYPE[version])

    def _admin(self, method: str, path: str, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        emu = self.emulator
        if (method, path) == ("GET", "/_emulator/ledger"):
            return _json(start_response, "200 OK", emu.ledger())
        if (method, path) == ("GET", "/_emulator/faults"):
            return _json(start_response, "200 OK", emu.faults.listing())
        if (method, path) == ("DELETE", "/_emulator/faults"):
            emu.clear_faults()
            return _json(start_response, "200 OK", {"cleared": True})
        if (method, path) == ("POST", "/_emulator/reset"):
            emu.reset()
            return _json(start_response, "200 OK", {"reset": True})
        if (method, path) == ("POST", "/_emulator/faults"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(spec, dict):
                    raise FaultSpecError("the fault must be a JSON object")
                fault = emu.faults.add(spec)
            except (ValueError, FaultSpecError) as exc:
                return _json(start_response, "400 Bad Request", {"error": str(exc)})
            return _json(start_response, "201 Created", fault.as_json())
        return _json(start_response, "404 Not Found", {"error": f"no {method} {path}"})


def _reply(start_response: StartResponse, status: str, body: bytes, content_type: str) -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response: StartResponse, status: str, data: Any) -> list[bytes]:
    return _reply(start_response, status, json.dumps(data, indent=1).encode(), "application/json")
