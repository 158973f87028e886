"""`retry`: which failed documents go back to their hot folder, and putting them there.

A failure that would certainly repeat (the number is refused by a deny pattern or matches no allow pattern)
is skipped unless forced: sending it again only files it again. The receipt beside the document says why it
failed and when.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from faxdropd.config import Config
from faxdropd.files import archive, filing, names

# The sentences of document/faxnumbers.py that a retry cannot change (only a config change can).
CERTAIN_REPEAT = re.compile(r"refused by the deny pattern|matches no allow pattern")


@dataclass(frozen=True)
class Candidate:
    document: Path
    hot: Path
    reason: str
    failed_at: float | None

    @property
    def certain_repeat(self) -> bool:
        return bool(CERTAIN_REPEAT.search(self.reason))


def candidate(cfg: Config, document: Path) -> Candidate | None:
    """`document` (in some folder's failed/) with its hot folder and its receipt's reason; None if not one."""
    hot = failed_owner(cfg, document)
    if hot is None:
        return None
    receipt: dict[str, Any] = {}
    with suppress(OSError, ValueError):
        loaded = json.loads(names.receipt_path(document).read_text())
        receipt = loaded if isinstance(loaded, dict) else {}
    when: float | None = None
    with suppress(TypeError, ValueError, KeyError):
        when = datetime.fromisoformat(str(receipt["completed_at"]).replace("Z", "+00:00")).timestamp()
    if when is None:
        with suppress(OSError, KeyError):
            when = os.lstat(document).st_mtime
    return Candidate(document, hot, str(receipt.get("reason") or ""), when)


def failed_owner(cfg: Config, doc: Path) -> Path | None:
    """The hot folder whose failed/ holds `doc` (directly or in a month folder of `retention.archive: dated`);
    the receipt's folder name decides if failed/ is shared."""
    owners = [f for f in cfg.folders if os.path.realpath(f.failed) == str(doc.parent)]
    if not owners:  # failed/2026-12/doc.pdf: archive.py owns what a month folder is
        owners = [f for f in cfg.folders if os.path.realpath(f.failed) == str(archive.dest_of(doc.parent))]
    if len(owners) > 1:
        with suppress(OSError, ValueError):
            named = json.loads(names.receipt_path(doc).read_text()).get("folder")
            owners = [f for f in owners if f.name == named] or owners
    return owners[0].path if owners else None


def failed_documents(failed: Path) -> list[Path]:
    """Documents in a failed/ directory and its month folders (archive.filed_dirs): no receipts, sidecars,
    temp/dot files; symlinks would only be rejected again, so --all-failed leaves them (name one explicitly
    to retry it anyway)."""
    if not failed.is_dir():
        return []
    return [
        p
        for directory in archive.filed_dirs(failed)
        for p in sorted(directory.iterdir())
        if not p.name.startswith(".")
        and not p.name.endswith(names.RECEIPT_SUFFIX)
        and not names.is_sidecar(p.name)
        and not p.is_symlink()
        and p.is_file()
    ]


def skip_reason(
    c: Candidate, *, reason: re.Pattern[str] | None, since: float | None, force: bool, now: float
) -> str | None:
    """Why `c` is not retried under these filters; None to retry it."""
    if reason is not None and not reason.search(c.reason):
        return "its reason does not match"
    if since is not None and (c.failed_at is None or now - c.failed_at > since):
        return "it failed earlier"
    if c.certain_repeat and not force:
        return f"it would fail the same way ({c.reason}); --force retries it anyway"
    return None


def requeue(c: Candidate) -> Path:
    return filing.requeue(c.document, c.hot)
