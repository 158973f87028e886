"""Log records to journald through its native protocol, so `journalctl JOB_ID=…` finds a fax's whole life.

Used when systemd connected stderr to the journal (``JOURNAL_STREAM`` names stderr's device:inode, see
``log.configure``) and the journal's socket exists. Each record is one datagram to
``/run/systemd/journal/socket`` (``FAXDROPD_JOURNAL_SOCKET`` names another, for tests) holding ``KEY=value``
lines; a value with a newline is sent as ``KEY\\n`` + its length as a 64-bit little-endian integer + the value
+ ``\\n`` (systemd's "Native Journal Protocol"). The fields: ``MESSAGE`` (the rendered line, exactly what
stderr would have carried), ``PRIORITY`` (syslog's number for the level), ``SYSLOG_IDENTIFIER=faxdropd``,
``EVENT``, ``JOB_ID``, ``REFERENCE``, ``FOLDER``, ``FILE`` and every other key of the event upper-cased when
it makes a valid journal field name. Values come from the event after redaction, and each is scrubbed again.

A record the journal cannot take (too large for one datagram, the socket gone) is written to stderr instead,
with the ``<N>`` priority prefix journald reads from a stream: a log line is never lost for want of a memfd.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import struct
import threading
from pathlib import Path
from typing import Any, TextIO

from structlog.typing import EventDict, WrappedLogger

from faxdropd.log.lines import LineHandler
from faxdropd.log.scrub import scrub_text

__all__ = ["JournaldHandler", "capture", "encode", "field_name", "fields_of", "journal_address", "parse"]

SOCKET_ENV = "FAXDROPD_JOURNAL_SOCKET"
DEFAULT_SOCKET = "/run/systemd/journal/socket"
IDENTIFIER = "faxdropd"
# sd-daemon(3) / syslog(3) priorities.
PRIORITY = {"critical": 2, "error": 3, "exception": 3, "warning": 4, "warn": 4, "info": 6, "debug": 7}
# journald's rule: upper-case letters, digits and "_", not starting with "_" (trusted fields) or a digit.
_VALID = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_INVALID_CHARS = re.compile(r"[^A-Z0-9_]")
# Fields this module sets itself, and keys that only repeat what the journal records anyway.
_OWN = frozenset({"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER"})
_LEFT_OUT = frozenset({"level", "timestamp"})
_local = threading.local()


def journal_address() -> str | None:
    """The journal's socket, if there is one to send to."""
    path = os.environ.get(SOCKET_ENV) or DEFAULT_SOCKET
    return path if Path(path).exists() else None


def field_name(key: str) -> str | None:
    """``job_id`` → ``JOB_ID``; None when no valid journal field name can be made of it."""
    name = _INVALID_CHARS.sub("_", key.upper()).lstrip("_")
    return name if _VALID.fullmatch(name) and name not in _OWN else None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return scrub_text(value)
    return scrub_text(json.dumps(value, default=str, ensure_ascii=False))


def fields_of(event: EventDict, message: str) -> list[tuple[str, str]]:
    """The journal fields of one (redacted) event, MESSAGE and PRIORITY first."""
    level = str(event.get("level", "info"))
    fields = [("MESSAGE", message), ("PRIORITY", str(PRIORITY.get(level, 6))), ("SYSLOG_IDENTIFIER", IDENTIFIER)]
    seen = set(_OWN)
    for key, value in event.items():
        name = field_name(key) if isinstance(key, str) and key not in _LEFT_OUT else None
        if name is None or name in seen or value is None:
            continue
        seen.add(name)
        fields.append((name, _text(value)))
    return fields


def encode(fields: list[tuple[str, str]]) -> bytes:
    """The native protocol's datagram for ``fields``."""
    out = bytearray()
    for name, value in fields:
        data = value.encode("utf-8", "backslashreplace")
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out)


def parse(datagram: bytes) -> dict[str, str]:
    """A native-protocol datagram back into fields (the journal's side; for tests and diagnosis)."""
    fields: dict[str, str] = {}
    pos = 0
    while pos < len(datagram):
        newline = datagram.index(b"\n", pos)
        equals = datagram.find(b"=", pos, newline)
        if equals >= 0:
            fields[datagram[pos:equals].decode()] = datagram[equals + 1 : newline].decode()
            pos = newline + 1
        else:
            (size,) = struct.unpack("<Q", datagram[newline + 1 : newline + 9])
            start = newline + 9
            fields[datagram[pos:newline].decode()] = datagram[start : start + size].decode()
            pos = start + size + 1
    return fields


def capture(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Processor placed after redaction: keeps the event for the handler writing its line on this thread."""
    _local.event = dict(event_dict)
    return event_dict


class JournaldHandler(LineHandler):
    """Sends each formatted record, and each line of ours, to the journal; falls back to ``stream`` (stderr)
    per line."""

    def __init__(self, stream: TextIO, address: str) -> None:
        super().__init__(stream)
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _local.event = None
            self._send(self.format(record), record.levelname.lower())
        except Exception:
            self.handleError(record)

    def write_line(self, line: str) -> None:
        """One of faxdropd's lines; `capture`, in the chain that rendered it, kept its event on this thread."""
        try:
            self._send(line, "info")
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": line}))

    def _send(self, message: str, level: str) -> None:
        event: EventDict = _local.event or {"level": level}
        _local.event = None
        fields = fields_of(event, message)
        try:
            self.sock.sendto(encode(fields), self.address)
        except OSError:  # EMSGSIZE, the journal restarting: the stream still reaches journald
            super().write_line(f"<{fields[1][1]}>{message}")

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            super().close()
