"""Pre-flight: open a claimed document once, safely, and decide everything on that open descriptor.

The hot folder is attacker-writable (reliability.md §3), so nothing here trusts a name: the file is opened
with O_NOFOLLOW|O_NONBLOCK relative to its already-open folder, checked with fstat, identified from its
content, hashed, and later streamed from the same descriptor — never reopened by name.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, WrongPasswordError

from faxdropd.config.model import PAGES_PER_FAX
from faxdropd.document.sample import assemble as _assemble  # noqa: F401  (tests/reliability builds hostile PDFs with it)
from faxdropd.document.sniff import identify
from faxdropd.errors import Rejected, storage_failure

MAX_BYTES = 20 * 1024 * 1024  # InterFAX's limit per fax
MAX_PAGES = PAGES_PER_FAX
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # NONBLOCK: a FIFO must not hang us
_CHUNK = 1024 * 1024
IN_MEMORY = 1024 * 1024  # documents up to this size are read once and checked in memory
# Why a send stops when the file is not what was checked (streamed or compared in memory).
SHRANK = "document shrank after it was checked"
CHANGED = "document changed after it was checked"
NOT_REGULAR = "not a regular file (symlink/FIFO/device/directory)"


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


@dataclass
class Checked:
    """An open, checked document. The caller owns `fd`: use `with` or call `close()`."""

    fd: int
    size: int
    sha256: str
    file_type: str  # InterFAX FileType token: PDF TIF PNG JPG DOCX DOC HTML TXT
    pages: int | None  # counted for PDFs only
    content: bytes | None = field(default=None, repr=False)  # a small document's bytes, as checked

    def read_chunks(self, chunk_size: int = _CHUNK) -> Iterator[bytes]:
        """Stream exactly the checked bytes with pread; the last chunk only comes out if the hash holds.

        Holding the last chunk back until verification means a file altered after pre-flight (someone kept a
        write descriptor) makes the upload fail instead of faxing content nobody checked. A small document
        (read whole by the checks) is compared with the bytes checked before any chunk leaves.
        """
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        if self.content is not None:
            yield from self._checked_content(chunk_size)
            return
        digest = hashlib.sha256()
        offset = 0
        while offset < self.size:
            chunk = os.pread(self.fd, min(chunk_size, self.size - offset), offset)
            if not chunk:
                raise Rejected(SHRANK)
            digest.update(chunk)
            offset += len(chunk)
            if offset == self.size and digest.hexdigest() != self.sha256:
                raise Rejected(CHANGED)
            yield chunk

    def _checked_content(self, chunk_size: int) -> Iterator[bytes]:
        # The bytes the checks read, once the file is found to hold them still: compared byte for byte before
        # any leaves, which costs a read and a memcmp instead of a second sha256 of the document.
        now = os.pread(self.fd, self.size, 0)
        if len(now) < self.size:
            raise Rejected(SHRANK)
        if now != self.content:
            raise Rejected(CHANGED)
        for start in range(0, self.size, chunk_size):
            yield self.content[start : start + chunk_size]

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Checked:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_document(path: Path, folder: Path, *, max_bytes: int = MAX_BYTES, max_pages: int = MAX_PAGES) -> Checked:
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
        content = _small_content(fd, st.st_size)
        file_type, sha256 = identify(fd, st.st_size, path.name, content)
        pages = _pdf_pages(fd, st.st_size, max_pages, content) if file_type == "PDF" else None
        return Checked(fd=fd, size=st.st_size, sha256=sha256, file_type=file_type, pages=pages, content=content)
    except BaseException:
        os.close(fd)
        raise


def _open_inside(path: Path, folder: Path) -> int:
    """Open the folder first, prove it is inside `folder`, then open the name relative to that descriptor."""
    dir_fd = _walk_down(folder, path.parent)
    if dir_fd is None:
        dir_fd = _dir_by_realpath(path.parent, folder)
    try:
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


def _walk_down(folder: Path, parent: Path) -> int | None:
    """`parent` opened from `folder` one directory at a time, never through a symbolic link: being reached so,
    it lies inside `folder`. None when that way is not open (a link on the way, `..`, not below `folder`):
    the caller then decides by real paths, as it always did. One open per level instead of realpath()'s lstat
    of every component of both paths."""
    try:
        below = parent.relative_to(folder).parts
    except ValueError:
        return None
    if ".." in below:
        return None
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    for part in below:
        try:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = inner
    return fd


def _dir_by_realpath(parent: Path, folder: Path) -> int:
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        real_parent, real_folder = os.path.realpath(parent), os.path.realpath(folder)
        if os.path.commonpath([real_parent, real_folder]) != real_folder:
            raise Rejected("the file is outside its folder")
        # realpath() walked names; make sure it named the directory we actually hold open.
        if not _same_inode(os.fstat(dir_fd), Path(real_parent).stat()):
            raise Rejected("the folder changed while the file was opened")
    except BaseException:
        os.close(dir_fd)
        raise
    return dir_fd


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


def _small_content(fd: int, size: int) -> bytes | None:
    """A small document whole, in one read for every check (sniffing, hashing, parsing); None for a large one,
    which is streamed so that its memory stays bounded. pypdf seeks and reads all over a file: on a descriptor
    each of those is a system call (~40 for a 100 KB fax), each one a GIL hand-off among the workers."""
    if size > IN_MEMORY:
        return None
    content = os.pread(fd, size, 0)
    if len(content) != size:
        raise Rejected("file changed while it was read")
    return content


def _pdf_source(fd: int, content: bytes | None) -> BinaryIO:
    if content is not None:
        return io.BytesIO(content)
    raw = os.fdopen(os.dup(fd), "rb")
    raw.seek(0)
    return raw


def _pdf_pages(fd: int, size: int, max_pages: int, content: bytes | None = None) -> int:
    _QUIET.local.active = True
    try:
        with _pdf_source(fd, content) as raw:
            reader = PdfReader(raw)
            if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
                raise Rejected("encrypted PDF")
            pages = len(reader.pages)
    except Rejected:
        raise
    except OSError as exc:
        if storage_failure(exc):
            raise  # the share died mid-read: not the document's fault, the job retries
        raise Rejected(f"PDF cannot be parsed: {_short(exc)}") from exc
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
