"""Low-level durable writes: temp files, atomic JSON files, directory fsync, file comparison.

Nothing here moves a document (filing.py alone does that); the only rename is of a temp file we just wrote.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import stat
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

from faxdropd import jsontext
from faxdropd.files.names import tag as name_tag

TMP_PREFIX = ".faxdropd-tmp-"  # dot-named, and never ends in a suffix anyone globs for
_CHUNK = 1024 * 1024
# errno values meaning "no hard link here" (FAT, some SMB servers, directories, protected_hardlinks).
NO_LINK = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EACCES})


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON, all or nothing, durable once this returns."""
    tmp = write_temp(path.parent, to_json(data), "json")
    try:
        tmp.replace(path)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(path.parent)


def write_temp(directory: Path, payload: bytes, tag: str) -> Path:
    """A new, fsynced `directory/.faxdropd-tmp-<tag>-<random>` holding `payload`; the caller places or drops it."""
    tmp = directory / f"{TMP_PREFIX}{name_tag(tag)}-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, payload)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink()
        raise
    os.close(fd)
    return tmp


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def to_json(data: Any) -> bytes:
    # ensure_ascii: names that are not valid UTF-8 (surrogate escapes) still serialise.
    return jsontext.ascii_pretty(data) + b"\n"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # some network fs refuse it
            raise
    finally:
        os.close(fd)


def same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` are one file, the same symlink, or regular files with equal bytes (never follows)."""
    sa, sb = os.lstat(a), os.lstat(b)
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode):
        return a.readlink() == b.readlink()
    if not (stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode)) or sa.st_size != sb.st_size:
        return False
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fa, fb = os.open(a, flags), os.open(b, flags)
    try:
        while chunk := os.read(fa, _CHUNK):
            if chunk != os.read(fb, len(chunk)):
                return False
        return True
    finally:
        os.close(fa)
        os.close(fb)


def content_facts(path: Path) -> tuple[str, int] | None:
    """(sha256, size) of a regular file, never following a symlink; None when it is not one or cannot be read.

    For a receipt whose job ended before pre-flight hashed the document (e.g. an outage gave up first): the receipt
    must still name the bytes it sits beside.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        digest, size = hashlib.sha256(), 0
        while chunk := os.read(fd, 1 << 20):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size
    except OSError:
        return None
    finally:
        os.close(fd)


_made_lock = threading.Lock()
_made: set[Path] = set()  # directories this process has made durable, names included


def durable_dir(path: Path) -> None:
    """Create `path` if missing and make its name durable: fsync its parent, once per directory per process.

    A sent/ or failed/ created by the first filing is reached only through its parent's entry; without the
    parent's fsync, a power cut takes the folder and every document filed into it, after the journal has already
    recorded them as filed (found by tests/reliability/test_power_loss.py). Once per process, not per filing, and
    under a lock, so a second filer cannot commit before the first one's fsync of the parent has returned.
    """
    if path in _made:
        return
    with _made_lock:
        if path in _made:
            return
        path.mkdir(parents=True, exist_ok=True)
        fsync_dir(path.parent)
        _made.add(path)
