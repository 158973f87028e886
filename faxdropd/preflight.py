"""Pre-flight: open a claimed document once, safely, and decide everything on that open descriptor.

The hot folder is attacker-writable (reliability.md §3), so nothing here trusts a name: the file is opened
with O_NOFOLLOW|O_NONBLOCK relative to its already-open folder, checked with fstat, identified from its
content, hashed, and later streamed from the same descriptor — never reopened by name.
"""

from __future__ import annotations

import codecs
import errno
import hashlib
import logging
import os
import stat
import sys
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

from faxdropd.errors import FaxdropError

MAX_BYTES = 20 * 1024 * 1024  # InterFAX's limit per fax
MAX_PAGES = 100
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO must not hang us
_CHUNK = 1024 * 1024
_HEAD = 1024
NOT_REGULAR = "not a regular file (symlink/FIFO/device/directory)"

# Extensions each content family may carry; a name without an extension is judged by content alone.
EXTENSIONS = {
    "PDF": {".pdf"}, "TIF": {".tif", ".tiff"}, "PNG": {".png"}, "JPG": {".jpg", ".jpeg", ".jpe"},
    "DOCX": {".docx"}, "DOC": {".doc"}, "HTML": {".html", ".htm"}, "TXT": {".txt", ".text", ".csv", ".log"},
}
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPG"), (b"II*\x00", "TIF"), (b"MM\x00*", "TIF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "DOC"), (b"PK\x03\x04", "ZIP"),
]
_NAMES = {"PDF": "PDF", "TIF": "TIFF", "PNG": "PNG", "JPG": "JPEG", "DOCX": "DOCX", "DOC": "DOC",
          "HTML": "HTML", "TXT": "text"}
# Bytes that count as "control characters" in text; tab, LF, CR, VT and FF are ordinary in text files.
_C0 = bytes(b for b in range(32) if b not in b"\t\n\r\x0b\x0c") + b"\x7f"
_NOT_C0 = bytes(b for b in range(256) if b not in _C0)
_NOT_C1 = bytes(range(0x80)) + bytes(range(0xA0, 0x100))  # C1 controls only count if the text is Latin-1


class _QuietWhileChecking(logging.Filter):
    """Drops pypdf's records on a thread that is checking a PDF, and only there.

    On hostile input pypdf warns a lot ("EOF marker not found", object offsets, sometimes quoting bytes of
    the file); the verdict already goes into the receipt. A logger level would silence other threads too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "active", False)


_QUIET = _QuietWhileChecking()
# pypdf logs on getLogger(<module name>); logger filters do not see records propagated from children.
for _module in [m for m in sys.modules if m == "pypdf" or m.startswith("pypdf.")]:
    logging.getLogger(_module).addFilter(_QUIET)


class Rejected(FaxdropError):
    """The document must not be sent; `reason` is the sentence written into its receipt."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Checked:
    """An open, checked document. The caller owns `fd`: use `with` or call `close()`."""

    fd: int
    size: int
    sha256: str
    file_type: str  # InterFAX FileType token: PDF TIF PNG JPG DOCX DOC HTML TXT
    pages: int | None  # counted for PDFs only

    def read_chunks(self, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Stream exactly the checked bytes with pread; the last chunk only comes out if the hash holds.

        Holding the last chunk back until verification means a file altered after pre-flight (someone kept a
        write descriptor) makes the upload fail instead of faxing content nobody checked.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        digest = hashlib.sha256()
        offset = 0
        while offset < self.size:
            chunk = os.pread(self.fd, min(chunk_size, self.size - offset), offset)
            if not chunk:
                raise Rejected("document shrank after it was checked")
            digest.update(chunk)
            offset += len(chunk)
            if offset == self.size and digest.hexdigest() != self.sha256:
                raise Rejected("document changed after it was checked")
            yield chunk

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Checked:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_document(
    path: Path, folder: Path, *, max_bytes: int = MAX_BYTES, max_pages: int = MAX_PAGES
) -> Checked:
    """Open and check `path`, which must lie in (or under) `folder`; raises Rejected with a human reason.

    A missing file or folder raises FileNotFoundError instead: on a share that is a passing outage (the
    job retries), not a verdict on the document.
    """
    fd = _open_inside(path, folder)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Rejected(NOT_REGULAR)
        if st.st_nlink == 0:
            # Unlinked between open and fstat: a rename-over raced us; not a hard link, and nothing to send.
            raise Rejected("the file was replaced while it was opened")
        if st.st_nlink != 1:
            # A hard link may point at a file the sender could never read or send themselves (Postfix's rule).
            raise Rejected(f"hard-linked file refused ({st.st_nlink} links)")
        if st.st_size == 0:
            raise Rejected("empty file")
        if st.st_size > max_bytes:
            raise Rejected(f"file is {st.st_size} bytes, over the limit of {max_bytes} bytes")
        file_type, sha256 = _identify(fd, st.st_size, path.name)
        pages = _pdf_pages(fd, max_pages) if file_type == "PDF" else None
        return Checked(fd=fd, size=st.st_size, sha256=sha256, file_type=file_type, pages=pages)
    except BaseException:
        os.close(fd)
        raise


def _open_inside(path: Path, folder: Path) -> int:
    """Open the folder first, prove it is inside `folder`, then open the name relative to that descriptor."""
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        real_parent, real_folder = os.path.realpath(path.parent), os.path.realpath(folder)
        if os.path.commonpath([real_parent, real_folder]) != real_folder:
            raise Rejected("the file is outside its folder")
        # realpath() walked names; make sure it named the directory we actually hold open.
        if not _same_inode(os.fstat(dir_fd), Path(real_parent).stat()):
            raise Rejected("the folder changed while the file was opened")
        try:
            fd = os.open(path.name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            raise _open_refusal(exc) from exc
        try:
            # Postfix's lstat-after-open check: the name must still be the file we opened.
            if not _same_inode(os.fstat(fd), os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False)):
                raise Rejected("the file was replaced while it was opened")
        except BaseException:
            os.close(fd)
            raise
        return fd
    finally:
        os.close(dir_fd)


def _open_refusal(exc: OSError) -> Exception:
    if exc.errno == errno.ELOOP:
        return Rejected("symbolic links are never followed")
    if exc.errno == errno.ENXIO:  # a socket, or a device without a driver
        return Rejected(NOT_REGULAR)
    if exc.errno in (errno.EACCES, errno.EPERM):
        return Rejected("permission denied: the daemon cannot read this file")
    if exc.errno == errno.ENAMETOOLONG:
        return Rejected("file name too long")
    return exc  # ENOENT, EIO…: not the document's fault; let the job retry


def _same_inode(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _identify(fd: int, size: int, name: str) -> tuple[str, str]:
    """Hash the whole file and name its type from content; the extension must agree."""
    head = os.pread(fd, _HEAD, 0)
    kind = next((k for magic, k in _MAGIC if head.startswith(magic)), None)
    if kind is None and b"%PDF-" in head:
        kind = "PDF"
    text = _TextStats() if kind is None else None  # only scan for text when no binary signature matched
    digest = hashlib.sha256()
    offset = 0
    while offset < size:
        chunk = os.pread(fd, min(_CHUNK, size - offset), offset)
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
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _pdf_pages(fd: int, max_pages: int) -> int:
    # pypdf reads through a file object on a dup of our descriptor: seeks, not a second in-memory copy.
    _QUIET.local.active = True
    try:
        with os.fdopen(os.dup(fd), "rb") as raw:
            raw.seek(0)
            reader = PdfReader(raw)
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise Rejected("encrypted PDF")
            pages = len(reader.pages)
    except Rejected:
        raise
    except (FileNotDecryptedError, WrongPasswordError, DependencyError) as exc:
        # A password is needed, or the cipher needs a library we lack: either way nobody can check it.
        raise Rejected("encrypted PDF") from exc
    except Exception as exc:  # pypdf raises many types on hostile input; all mean "cannot be checked"
        raise Rejected(f"PDF cannot be parsed: {_short(exc)}") from exc
    finally:
        _QUIET.local.active = False
    if pages == 0:
        raise Rejected("PDF has no pages")
    if pages > max_pages:
        raise Rejected(f"PDF has {pages} pages, over the limit of {max_pages}")
    return pages


def _short(exc: Exception) -> str:
    # One printable line: the reason lands in receipts and logs, where a raw parser message could forge lines.
    text = "".join(c if c.isprintable() else " " for c in str(exc)) or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def make_sample_pdf(pages: int = 1, text: str = "faxdropd", pad_to: int = 0) -> bytes:
    """A small valid PDF written by hand (correct xref offsets), `pages` pages of Helvetica `text`.

    `pad_to` appends an unreferenced stream object until the file has at least that many bytes: readers
    ignore it, so big test documents stay cheap to parse.
    """
    if pages < 0:
        raise ValueError("pages must be >= 0")
    safe = text.encode("latin-1", "replace")
    for special in (b"\\", b"(", b")"):  # backslash first, or the escapes themselves get escaped
        safe = safe.replace(special, b"\\" + special)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            + f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        line = safe + f" - page {i + 1} of {pages}".encode()
        objects.append(_stream(b"BT /F1 18 Tf 72 770 Td (" + line + b") Tj ET"))
    document = _assemble(objects)
    if pad_to > len(document):
        document = _assemble([*objects, _stream(b"0" * (pad_to - len(document)))])
    return document


def _stream(data: bytes) -> bytes:
    return f"<< /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def _assemble(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
