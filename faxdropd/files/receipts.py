"""Receipts: writing one without ever replacing anything, and finding the ones that name a job or a content hash.

Nothing here moves a document; filing.py decides where receipts go and moves them with their documents.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from faxdropd.files.fsutil import NO_LINK, to_json, write_all, write_temp
from faxdropd.files.names import RECEIPT_SUFFIX, RETRIED_DIR, WORK_DIR

_RECEIPT_MAX = 1024 * 1024


def write_receipt(target: Path, receipt: Mapping[str, Any], tag: str) -> bool:
    """Create `target` complete or not at all, never replacing anything; False if the name is taken."""
    payload = to_json(dict(receipt))
    tmp = write_temp(target.parent, payload, tag)
    try:
        os.link(tmp, target, follow_symlinks=False)  # EEXIST, never an overwrite, even of a symlink
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in NO_LINK:
            raise
        try:  # no hard links: an exclusive create written in place is the next best thing
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        try:
            write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return True


def receipts_of(dest_dir: Path, job_id: str, prefix: bytes = b"") -> Iterator[Path]:
    """Receipts in `dest_dir` (whose names start with `prefix`) that name `job_id`."""
    try:
        entries = list(os.scandir(dest_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if (
            entry.name.endswith(RECEIPT_SUFFIX)
            and os.fsencode(entry.name).startswith(prefix)
            and receipt_has(Path(entry.path), "job_id", job_id)
        ):
            yield Path(entry.path)


def retried_receipts(hot: Path, sha256: str) -> list[Path]:
    """Receipts `requeue` set aside for content `sha256` and not consumed yet (read only)."""
    try:
        entries = sorted(os.scandir(hot / WORK_DIR / RETRIED_DIR), key=lambda e: os.fsencode(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [
        Path(e.path) for e in entries if e.name.endswith(RECEIPT_SUFFIX) and receipt_has(Path(e.path), "sha256", sha256)
    ]


def receipt_has(path: Path, key: str, value: str) -> bool:
    """True when the receipt at `path` is a regular, sane-sized JSON file whose `key` equals `value`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > _RECEIPT_MAX:
            return False
        raw = os.pread(fd, _RECEIPT_MAX, 0)
    finally:
        os.close(fd)
    if value.encode() not in raw:  # cheap filter before parsing thousands of receipts
        return False
    try:
        data = json.loads(raw)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get(key) == value
