"""Does a document's content look complete? The one owner of that question (the watcher asks it).

A scanner that pauses mid-file, or a Windows copy over SMB that pre-allocates the final size and fills it
later, leaves a file whose size and mtime can stay still for longer than ``stable_seconds``. Its bytes tell:
a PDF ends with ``%%EOF`` (and a ``startxref`` just before), a JPEG with FFD9, a PNG with its IEND chunk, a
TIFF's first IFD and its strip offsets lie inside the file, and a pre-allocated tail is all zeros.

Cheap by design: only the head and the tail (a few KB each) are read, never the whole file; pre-flight still
parses the whole document later and decides. The verdict is a reason ("" = looks complete) for logs and
`faxdropd explain`. Types without an end marker (text, DOC, DOCX/ZIP is checked for its end record) count
as complete unless empty.
"""

from __future__ import annotations

import os
import stat
import struct
import time
from pathlib import Path

from faxdropd.document.sniff import _MAGIC

HEAD = 4096
TAIL = 4096
EMPTY = "empty file"


def _kind(head: bytes) -> str | None:
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind is None and b"%PDF-" in head[:1024]:
        kind = "PDF"
    return kind


def check_bytes(head: bytes, tail: bytes, size: int) -> str:
    """The reason the content looks incomplete, or "" when it looks complete.

    ``head`` is the file's first bytes, ``tail`` its last (they may overlap on small files), ``size`` the
    whole size (for TIFF offsets).
    """
    if size == 0:
        return EMPTY
    kind = _kind(head)
    if kind is None:
        return ""  # text and unknown content: no end marker to wait for; pre-flight judges it
    stripped = tail.rstrip(b"\x00")
    # Only for types with an end marker: a TIFF's last strip may well be zeros (white, uncompressed); its
    # pre-allocated case shows as an IFD of zeros or strips past the data written (_tiff).
    if kind in ("PDF", "JPG", "PNG", "ZIP") and len(stripped) < len(tail) - 16:
        # A PDF may carry a little zero padding after %%EOF; a long zero tail is pre-allocated space.
        return f"{_NAMES[kind]} ends in zeros (pre-allocated, not written yet)"
    if kind == "PDF":
        if b"%%EOF" not in tail[-1024:]:
            return "PDF has no %%EOF yet"
        return ""
    if kind == "JPG":
        return "" if stripped.endswith(b"\xff\xd9") else "JPEG has no end marker (FFD9) yet"
    if kind == "PNG":
        return "" if b"IEND" in stripped[-12:] else "PNG has no IEND chunk yet"
    if kind == "ZIP":
        return "" if b"PK\x05\x06" in tail else "ZIP has no end-of-central-directory record yet"
    if kind == "TIF":
        return _tiff(head, size)
    return ""


_NAMES = {"PDF": "PDF", "JPG": "JPEG", "PNG": "PNG", "ZIP": "ZIP", "TIF": "TIFF", "DOC": "DOC"}


def _tiff(head: bytes, size: int) -> str:
    """The first IFD and the strips it points to must lie inside the file (only what the head holds)."""
    order = "<" if head.startswith(b"II") else ">"
    if len(head) < 8:
        return "TIFF header is cut short"
    (ifd,) = struct.unpack(order + "I", head[4:8])
    if ifd + 2 > size:
        return "TIFF's first IFD lies past the end of the file"
    if ifd + 2 > len(head):
        return ""  # the IFD lies beyond the head we read: inside the file, good enough for a cheap check
    (count,) = struct.unpack(order + "H", head[ifd : ifd + 2])
    if count == 0:
        return "TIFF's first IFD is empty (not written yet)"
    end = ifd + 2 + count * 12
    if end > size:
        return "TIFF's IFD runs past the end of the file"
    offsets: list[int] = []
    lengths: list[int] = []
    for i in range(count):
        entry = head[ifd + 2 + 12 * i : ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, typ, n = struct.unpack(order + "HHI", entry[:8])
        if tag in (273, 279) and n == 1:  # a single strip: its value sits in the entry itself
            value = struct.unpack(order + ("H" if typ == 3 else "I"), entry[8:10] if typ == 3 else entry[8:12])[0]
            (offsets if tag == 273 else lengths).append(value)
    if offsets and lengths and offsets[0] + lengths[0] > size:
        return "TIFF's image data runs past the end of the file"
    return ""


def check_file(path: Path, size: int | None = None) -> str:
    """Read the head and tail of ``path`` (never following a symlink) and judge them; OSError: "" (pre-flight
    reports unreadable files with their real reason)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    try:
        real = os.fstat(fd).st_size if size is None else size
        head = os.pread(fd, HEAD, 0)
        tail = os.pread(fd, TAIL, max(0, real - TAIL))
    except OSError:
        return ""
    finally:
        os.close(fd)
    return check_bytes(head, tail, real)


def waiting_until(path: Path, grace: float) -> tuple[str, float] | None:
    """(reason, epoch seconds) when ``path`` still waits for its content, as the watcher would hold it: cut
    off or empty, and its mtime less than ``grace`` ago. None: it goes on to pre-flight. For explain."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    reason = check_file(path, st.st_size)
    until = st.st_mtime + grace
    return (reason, until) if reason and time.time() < until else None
