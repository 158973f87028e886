"""Content sniffing: name a document's type from its bytes (magic numbers, DOCX, plain text) while hashing it.

Works on an open descriptor with pread only; preflight.py decides which descriptor. The extension never
decides the type, it can only disagree with the content and get the document rejected.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import zipfile
from pathlib import Path

from faxdropd.errors import Rejected, storage_failure

_CHUNK = 1024 * 1024
_HEAD = 1024

# Extensions each content family may carry; a name without an extension is judged by content alone.
EXTENSIONS = {
    "PDF": {".pdf"},
    "TIF": {".tif", ".tiff"},
    "PNG": {".png"},
    "JPG": {".jpg", ".jpeg", ".jpe"},
    "DOCX": {".docx"},
    "DOC": {".doc"},
    "HTML": {".html", ".htm"},
    "TXT": {".txt", ".text", ".csv", ".log"},
}
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPG"),
    (b"II*\x00", "TIF"),
    (b"MM\x00*", "TIF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "DOC"),
    (b"PK\x03\x04", "ZIP"),
]
_NAMES = {
    "PDF": "PDF",
    "TIF": "TIFF",
    "PNG": "PNG",
    "JPG": "JPEG",
    "DOCX": "DOCX",
    "DOC": "DOC",
    "HTML": "HTML",
    "TXT": "text",
}
# Bytes that count as "control characters" in text; tab, LF, CR, VT and FF are ordinary in text files.
_C0 = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c") + b"\x7f"
_NOT_C0 = bytes(b for b in range(256) if b not in _C0)
_NOT_C1 = bytes(range(0x80)) + bytes(range(0xA0, 0x100))  # C1 controls only count if the text is Latin-1


def identify(fd: int, size: int, name: str, content: bytes | None = None) -> tuple[str, str]:
    """Hash the whole file and name its type from content; the extension must agree. `content`: the whole
    file, read already (a small document is read once for every check, not once per check)."""
    head = content[:_HEAD] if content is not None else os.pread(fd, _HEAD, 0)
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind is None and b"%PDF-" in head:
        kind = "PDF"
    text = _TextStats() if kind is None else None  # only scan for text when no binary signature matched
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        chunk = content if content is not None else os.pread(fd, min(_CHUNK, size - offset), offset)
        if not chunk:
            raise Rejected("file changed while it was read")
        digest.update(chunk)
        if text is not None:
            text.feed(chunk)
        offset += len(chunk)
    if kind == "ZIP":
        if not _is_docx(fd):
            raise Rejected("unsupported content: a ZIP archive that is not a Word document")
        kind = "DOCX"
    elif kind is None:
        if text is None or not text.is_text(size):
            raise Rejected("unsupported content: not PDF, TIFF, PNG, JPEG, DOCX, DOC, HTML or plain text")
        lowered = head.lower()
        kind = "HTML" if b"<!doctype html" in lowered or b"<html" in lowered else "TXT"
    suffix = Path(name).suffix.lower()
    if suffix and suffix not in EXTENSIONS[kind]:
        raise Rejected(f"content is {_NAMES[kind]} but the name says {suffix}")
    return kind, digest.hexdigest()


class _TextStats:
    """Decides "plain text" in one streaming pass: valid UTF-8 or Latin-1, no NULs, ≤ 1% control bytes."""

    def __init__(self) -> None:
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.utf8_ok = True
        self.nuls = self.c0 = self.c1 = 0

    def feed(self, chunk: bytes) -> None:
        self.nuls += chunk.count(0)
        self.c0 += len(chunk.translate(None, _NOT_C0))
        self.c1 += len(chunk.translate(None, _NOT_C1))
        if self.utf8_ok:
            try:
                self.utf8.decode(chunk)
            except UnicodeDecodeError:
                self.utf8_ok = False

    def is_text(self, size: int) -> bool:
        if self.utf8_ok:
            try:
                self.utf8.decode(b"", final=True)  # a multi-byte character cut off at the end
            except UnicodeDecodeError:
                self.utf8_ok = False
        controls = self.c0 + (0 if self.utf8_ok else self.c1)
        return self.nuls == 0 and controls * 100 <= size


def _is_docx(fd: int) -> bool:
    # Only the central directory is read (no member is decompressed), so a zip bomb costs nothing here.
    try:
        with os.fdopen(os.dup(fd), "rb") as raw, zipfile.ZipFile(raw) as archive:
            return "word/document.xml" in archive.namelist()
    except OSError as exc:
        if storage_failure(exc):
            raise  # a dead share is not "a ZIP that is not a Word document"
        return False
    except (zipfile.BadZipFile, ValueError, EOFError):
        return False
