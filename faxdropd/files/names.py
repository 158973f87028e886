"""File names for filing: splitting, fitting within NAME_MAX, and choosing a free name. Nothing here moves a file.

Names are whatever bytes the share holds; they are only ever passed to os functions, never decoded strictly,
and lengths are counted in bytes (os.fsencode), since that is what NAME_MAX limits.
"""

from __future__ import annotations

import errno
import os
import re
import time
from datetime import UTC, datetime
from pathlib import Path

WORK_DIR = ".faxdropd"
RETRIED_DIR = "retried"
RECEIPT_SUFFIX = ".receipt.json"
SIDECAR_SUFFIX = ".fax.yaml"  # the written spelling; is_sidecar takes any case
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


def is_sidecar(name: str) -> bool:
    """A `<document>.fax.yaml` control file, the suffix in any case: Windows/SMB users write `X.PDF.FAX.YAML`."""
    return name[-len(SIDECAR_SUFFIX) :].casefold() == SIDECAR_SUFFIX and len(name) > len(SIDECAR_SUFFIX)


def sidecar_document(sidecar: Path) -> Path:
    """The document a sidecar belongs to (`X.pdf.FAX.YAML` -> `X.pdf`)."""
    return sidecar.with_name(sidecar.name[: -len(SIDECAR_SUFFIX)])


# A listing of a directory is reused while the directory's mtime is unchanged, for as long as it is fresh (the
# lookups of one batch) or once that mtime has settled. Not longer while it is recent: a sidecar created within
# the same mtime tick as the listing (coarse on some shares) would be missed for good (git's racy-index rule).
_LISTING_FRESH = 0.5
_LISTING_SETTLED = 2.0
_odd_sidecars: dict[Path, tuple[int, float, bool, frozenset[str]]] = {}


def find_sidecar(document: Path) -> Path | None:
    """The sidecar beside `document`, or None: `<name>.fax.yaml` first, else the suffix in another case.

    The other spellings need a listing, reused as above, so a folder of 10,000 documents waiting for sidecars
    costs one listing, not one per document.
    """
    canonical = sidecar_path(document)
    try:
        canonical.lstat()
        return canonical
    except FileNotFoundError:
        pass
    except OSError:  # ENAMETOOLONG for a 255-byte name: no sidecar can exist
        return None
    for name in _odd_sidecar_names(document.parent):
        if name[: -len(SIDECAR_SUFFIX)] == document.name:
            return document.with_name(name)
    return None


def _odd_sidecar_names(directory: Path) -> frozenset[str]:
    try:
        mtime_ns = directory.stat().st_mtime_ns
    except OSError:
        return frozenset()
    cached = _odd_sidecars.get(directory)
    if cached is not None and cached[0] == mtime_ns and (cached[2] or time.monotonic() - cached[1] < _LISTING_FRESH):
        return cached[3]
    listed_at = time.monotonic()
    settled = time.time() - mtime_ns / 1e9 >= _LISTING_SETTLED
    try:
        listing = os.listdir(directory)  # noqa: PTH208 - names as str in C: no Path per entry
    except OSError:
        return frozenset()
    odd = odd_sidecars_in(listing)
    if len(_odd_sidecars) > 1024:  # hot folders are few; a bound keeps `explain` runs over many dirs small
        _odd_sidecars.clear()
    _odd_sidecars[directory] = (mtime_ns, listed_at, settled, odd)
    return odd


_FOLDED_END = (SIDECAR_SUFFIX + "\0").encode()


def odd_sidecars_in(listing: list[str]) -> frozenset[str]:
    """The names in `listing` that `is_sidecar` takes but that are not spelt `.fax.yaml`.

    A folder is listed again after every claim batch (claims change its mtime), so with 10,000 documents
    waiting a test of each name in Python grew with the square of the folder (issue #19, scale). Here the
    search runs in C over the names joined by NUL (which no name holds), ASCII-lowercased: no character
    outside ASCII casefolds to one of ".faxyml", so this is `is_sidecar`'s casefold() (a test compares them).
    """
    text = "\0".join(listing) + "\0"
    folded = text.encode("ascii", "replace").lower()  # one byte per character: offsets stay those of `text`
    found = set()
    at = folded.find(_FOLDED_END)
    while at >= 0:
        end = at + len(SIDECAR_SUFFIX)
        name = text[text.rfind("\0", 0, at) + 1 : end]
        if len(name) > len(SIDECAR_SUFFIX) and text[at:end] != SIDECAR_SUFFIX:
            found.add(name)
        at = folded.find(_FOLDED_END, end)
    return frozenset(found)


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
