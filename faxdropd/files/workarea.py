"""The per-hot-folder work area `<hot>/.faxdropd`: creating it safely and listing what is left in it.

Nothing here moves a file: filing.py claims into and releases out of the work area.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from faxdropd.errors import storage_failure
from faxdropd.files.fsutil import fsync_dir
from faxdropd.files.names import RETRIED_DIR, WORK_DIR, is_sidecar


def work_dir(hot: Path) -> Path:
    """`<hot>/.faxdropd`, created 0700; refuses a symlink planted there by someone with write access."""
    path = hot / WORK_DIR
    try:
        path.mkdir(0o700)
        path.chmod(0o700)  # the umask must not widen or narrow it
        fsync_dir(hot)
    except FileExistsError:
        pass
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "work area is not a real directory", str(path))
    return path


def cleanup_work(hot: Path, live_job_ids: set[str]) -> list[Path]:
    """Work-area entries that belong to no live job (sidecars first). Listed only: the daemon decides."""
    try:
        entries = list(os.scandir(hot / WORK_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return []
    left = [
        Path(e.path)
        for e in entries
        if not (e.name == RETRIED_DIR and e.is_dir(follow_symlinks=False))
        and e.name.split("__", 1)[0] not in live_job_ids
    ]
    # A released sidecar must be back before its document, or the document is routed without it.
    return sorted(left, key=lambda p: (not is_sidecar(p.name), os.fsencode(p.name)))


def out_of_reach(work_path: Path, exc: BaseException) -> bool:
    """True when `exc`, met while handling the claimed file at `work_path`, means its share is unavailable
    rather than anything about the document: a storage errno (errors.storage_failure), or the work area gone
    with its filesystem (an unmounted share leaves the bare mount point, where .faxdropd does not exist)."""
    if storage_failure(exc):
        return True
    if not isinstance(exc, FileNotFoundError):
        return False
    try:
        return not work_path.parent.is_dir()
    except OSError:
        return True
