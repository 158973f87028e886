"""File names for filing: splitting, fitting within NAME_MAX, and choosing a free name. Nothing here moves a file.

Names are whatever bytes the share holds; they are only ever passed to os functions, never decoded strictly,
and lengths are counted in bytes (os.fsencode), since that is what NAME_MAX limits.
"""

from __future__ import annotations

import errno
import os
import re
from datetime import UTC, datetime
from pathlib import Path

WORK_DIR = ".faxdropd"
RETRIED_DIR = "retried"
RECEIPT_SUFFIX = ".receipt.json"
SIDECAR_SUFFIX = ".fax.yaml"
NAME_MAX = 255  # bytes, per path component on every filesystem we care about


def unique_destination(dest_dir: Path, name: str, now: datetime) -> Path:
    """`dest_dir/name`, or `name.<UTC stamp>[-n].ext` if it (or its receipt or sidecar) already exists."""
    check_name(name)
    stem, ext = split(name)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 10_000):
        tag = "" if n == 1 else f".{stamp}" if n == 2 else f".{stamp}-{n - 1}"
        candidate = dest_dir / fit(stem, tag + ext, NAME_MAX - len(RECEIPT_SUFFIX))
        if not any(os.path.lexists(f"{candidate}{s}") for s in ("", RECEIPT_SUFFIX, SIDECAR_SUFFIX)):
            return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(dest_dir / name))


def receipt_path(document: Path) -> Path:
    return document.with_name(document.name + RECEIPT_SUFFIX)


def sidecar_path(document: Path) -> Path:
    return document.with_name(document.name + SIDECAR_SUFFIX)


def document_of(receipt: Path) -> Path:
    return receipt.with_name(receipt.name[: -len(RECEIPT_SUFFIX)])


def check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a file name: {name!r}")


def split(name: str) -> tuple[str, str]:
    ext = Path(name).suffix
    stem = name[: len(name) - len(ext)]
    return (stem, ext) if 0 < len(os.fsencode(ext)) <= 16 else (name, "")  # a 200-byte "extension" is a stem


def fit(stem: str, tail: str, limit: int) -> str:
    """`stem + tail` within `limit` bytes, cutting the stem, never the tag or extension after it."""
    raw_stem, raw_tail = os.fsencode(stem), os.fsencode(tail)
    return os.fsdecode(raw_stem[: max(0, limit - len(raw_tail))] + raw_tail)


def tag(job_id: str) -> str:
    """A job id reduced to characters safe in a temp-file name."""
    return re.sub(r"[^A-Za-z0-9_-]", "", job_id)[:40] or "job"
