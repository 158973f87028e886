"""Month folders for filed documents, and deleting expired ones with their receipts.

With `retention.archive: dated` a job is filed into `<sent>/<YYYY-MM>/` (`month_dir`), the month of the job's
recorded completion time (UTC) — a time the journal holds, so a filing retried after a crash or in the next
month looks in, and lands in, the same folder. Inside it every rule of filing.py holds unchanged: the name
collision rule, the receipt beside its document, nothing overwritten.

`expire` deletes what was filed before a cutoff. A document is filed receipt first and document last; it is
deleted in the reverse order — sidecar and document first, the receipt last — because the receipt is what a
pass looks for: a crash between the unlinks leaves an expired receipt whose document is already gone, and the
next pass finds that receipt and finishes the deletion (a missing document is no error). Deleting the
receipt first would leave, after a crash, a document nobody could date or match to its job again. Nothing
here creates a directory, so a share that is down is skipped, never recreated as an empty tree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from faxdropd.files.names import RECEIPT_SUFFIX, document_of, sidecar_path

__all__ = ["Expired", "dest_of", "expire", "filed_dirs", "month_dir"]

_MONTH = re.compile(r"\d{4}-\d{2}")


def month_dir(dest_dir: Path, when: float) -> Path:
    """`dest_dir/YYYY-MM` for the UTC month of `when` (Unix seconds)."""
    return dest_dir / datetime.fromtimestamp(when, UTC).strftime("%Y-%m")


def filed_dirs(dest_dir: Path) -> list[Path]:
    """`dest_dir` and its month folders, oldest month first: where a sent/ or failed/ keeps documents."""
    try:
        months = sorted(p for p in dest_dir.iterdir() if _MONTH.fullmatch(p.name) and p.is_dir())
    except OSError:
        months = []
    return [dest_dir, *months]


def dest_of(directory: Path) -> Path:
    """The sent/ or failed/ a document's directory belongs to: its parent for a month folder, else itself."""
    return directory.parent if _MONTH.fullmatch(directory.name) else directory


@dataclass
class Expired:
    documents: int = 0
    receipts: int = 0
    months: int = 0  # empty month folders removed

    def add(self, other: Expired) -> None:
        self.documents += other.documents
        self.receipts += other.receipts
        self.months += other.months


def expire(dest_dir: Path, cutoff: float, *, should_stop: Callable[[], bool] = lambda: False) -> Expired:
    """Delete documents filed in `dest_dir` (flat, or in its month folders) before `cutoff` (Unix seconds).

    A document's filing time is its receipt's mtime (the receipt is written when the document is filed; the
    document keeps the mtime its author gave it). Memory stays flat however many files there are: entries
    are streamed with scandir, never listed whole. `should_stop` is checked between files (daemon shutdown).
    """
    done = Expired()
    try:
        entries = os.scandir(dest_dir)
    except (FileNotFoundError, NotADirectoryError):
        return done  # not filed into yet, or its share is down
    months: list[Path] = []
    with entries:
        for entry in entries:
            if should_stop():
                return done
            if _MONTH.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False):
                months.append(Path(entry.path))  # few: one a month
            elif entry.name.endswith(RECEIPT_SUFFIX):
                _expire_one(entry, cutoff, done)
    for month in sorted(months):
        if should_stop():
            return done
        done.add(expire(month, cutoff, should_stop=should_stop))
        with suppress(OSError):  # not empty (kept documents, or a stranger's file): it stays
            month.rmdir()
            done.months += 1
    return done


def _expire_one(entry: os.DirEntry[str], cutoff: float, done: Expired) -> None:
    try:
        filed_at = entry.stat(follow_symlinks=False).st_mtime
    except FileNotFoundError:
        return
    if filed_at >= cutoff:
        return
    receipt = Path(entry.path)
    document = document_of(receipt)
    for path in (sidecar_path(document), document):
        try:
            path.unlink()
        except FileNotFoundError:
            continue  # never had one, or an interrupted pass deleted it already
        if path == document:
            done.documents += 1
    with suppress(FileNotFoundError):
        receipt.unlink()  # last: it is how the next pass finds an interrupted deletion
        done.receipts += 1
