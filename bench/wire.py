"""The raw-wire baseline: the same SOAP 1.1 envelopes zeep sends (byte for byte apart from values, captured
from faxdropd's client), posted with plain `requests`, replies picked apart with a regex.

This is the least work any client must do to fax a document: read it, base64 it, wrap it in XML, POST it.
Everything faxdropd does on top (journal, pre-flight hashing and PDF parsing, zeep, filing) is what the
daemon/baseline ratio measures.
"""

from __future__ import annotations

import base64
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape

import requests

NS = "http://www.interfax.cc"
_HEAD = (
    b"<?xml version='1.0' encoding='utf-8'?>\n"
    b'<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/"><soap-env:Body>'
)
_TAIL = b"</soap-env:Body></soap-env:Envelope>"
_NUMBER = re.compile(rb"Result>(-?\d+)<")
_SESSION = re.compile(rb"SessionID>([^<]*)<")


def _element(op: str, fields: list[tuple[str, str | bytes]]) -> bytes:
    parts = [_HEAD, f'<ns0:{op} xmlns:ns0="{NS}">'.encode()]
    for name, value in fields:
        text = value if isinstance(value, bytes) else escape(value).encode()
        parts.append(b"<ns0:%s>%s</ns0:%s>" % (name.encode(), text, name.encode()))
    parts += [f"</ns0:{op}>".encode(), _TAIL]
    return b"".join(parts)


class WireClient:
    """One requests.Session per thread, as faxdropd's ClientFactory does."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.url, self.username, self.password = url, username, password
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def post(self, op: str, body: bytes) -> bytes:
        reply = self._session().post(
            self.url, data=body, timeout=120,
            headers={"SOAPAction": f'"{NS}/{op}"', "Content-Type": "text/xml; charset=utf-8"},
        )  # fmt: skip
        reply.raise_for_status()
        return reply.content

    def _auth(self) -> list[tuple[str, str | bytes]]:
        return [("Username", self.username), ("Password", self.password)]

    def start_upload(self) -> str:
        reply = self.post("StartFileUpload", _element("StartFileUpload", self._auth()))
        found = _SESSION.search(reply)
        if found is None or not found.group(1):
            raise RuntimeError(f"no session id: {reply[:300]!r}")
        return found.group(1).decode()

    def upload_chunk(self, session_id: str, chunk: bytes, is_last: bool) -> int:
        body = _element("UploadFileChunk", [("SessionID", session_id), ("Chunk", base64.b64encode(chunk)),
                                            ("IsLast", "true" if is_last else "false")])  # fmt: skip
        return _number(self.post("UploadFileChunk", body))

    def send_fax(self, data: bytes, size_field: str, reference: str, subject: str, number: str) -> int:
        # Field order and values as faxfields.sendfax_fields produces them with the default fax options.
        fields: list[tuple[str, str | bytes]] = [
            *self._auth(), ("FaxNumbers", number), ("Contacts", ""), ("FilesData", base64.b64encode(data)),
            ("FileTypes", "PDF"), ("FileSizes", size_field), ("Postpone", "2001-12-31T00:00:00Z"),
            ("RetriesToPerform", "3"), ("CSID", ""), ("PageHeader", "N"), ("JobID", reference),
            ("Subject", subject), ("ReplyAddress", ""), ("PageSize", "A4"), ("PageOrientation", "Portrait"),
            ("IsHighResolution", "false"), ("IsFineRendering", "false"),
        ]  # fmt: skip
        result = _number(self.post("SendfaxEx_2", _element("SendfaxEx_2", fields)))
        if result < 0:
            raise RuntimeError(f"SendfaxEx_2 returned {result}")
        return result


def _number(reply: bytes) -> int:
    found = _NUMBER.search(reply)
    if found is None:
        raise RuntimeError(f"no result in {reply[:300]!r}")
    return int(found.group(1))


def read_chunks(fd: int, size: int, chunk_size: int) -> Iterator[bytes]:
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(chunk_size, size - offset), offset)
        if not chunk:
            raise RuntimeError("file shrank")
        offset += len(chunk)
        yield chunk


def fax_file(client: WireClient, path: Path, number: str, chunk_size: int, inline_max: int) -> int:
    """One fax of one file, exactly as upload.submit decides: inline when small, else a chunked session."""
    reference = f"wire-{path.name}"
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size <= inline_max:
            return client.send_fax(os.pread(fd, size, 0), str(size), reference, f"{path.name} [{reference}]", number)
        session = client.start_upload()
        sent = 0
        chunks = list_lookahead(read_chunks(fd, size, chunk_size))
        for chunk, last in chunks:
            running = client.upload_chunk(session, chunk, last)
            sent += len(chunk)
            if running != sent:
                raise RuntimeError(f"emulator counted {running}, sent {sent}")
        return client.send_fax(b"", f"{size}/sessionID={session}", reference, f"{path.name} [{reference}]", number)
    finally:
        os.close(fd)


def list_lookahead(chunks: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    previous: bytes | None = None
    for chunk in chunks:
        if previous is not None:
            yield previous, False
        previous = chunk
    if previous is not None:
        yield previous, True


def run_wire(
    url: str, username: str, password: str, paths: list[Path], number: str, *, workers: int,
    chunk_size: int = 200_000, inline_max: int = 262_144,
) -> float:  # fmt: skip
    """Fax every file with `workers` threads; returns the wall time in seconds."""
    client = WireClient(url, username, password)
    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for tid in pool.map(lambda p: fax_file(client, p, number, chunk_size, inline_max), paths):
            if tid <= 0:
                raise RuntimeError(f"bad transaction id {tid}")
    return time.monotonic() - started
