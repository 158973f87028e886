"""The work areas `<hot>/.faxdropd/<instance>/`: creating them safely and listing what is left in them.

Every daemon instance (host) has its own area in each hot folder, so a restart looks only at its own claims:
with one shared area a restarting host gave back a peer's claimed and submitted documents, which were then
sent twice. `<hot>/.faxdropd/` itself holds the areas, `retried/` (shared: any host may consume a retry) and,
from 0.1, the files of hosts not yet upgraded. Nothing here moves a document: filing.py claims and releases.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from faxdropd.errors import storage_failure
from faxdropd.files.fsutil import fsync_dir
from faxdropd.files.names import RETRIED_DIR, WORK_DIR, is_sidecar

ALIVE = ".alive"  # touched by the running daemon: its mtime says when the instance was last seen working
ADOPTED_PREFIX = "adopted-"  # `<self>/adopted-<peer>-<stamp>/`: a dead peer's area, taken by `faxdropd adopt`

# One process is one instance: set once by the daemon at start-up (before any claim). Unset, the work area
# is `<hot>/.faxdropd` itself, the 0.1 layout, which is what tools that claim nothing see.
_instance: str | None = None


def set_instance(name: str | None) -> None:
    global _instance
    _instance = name


def instance() -> str | None:
    return _instance


def _make_dir(path: Path) -> Path:
    """`path`, created 0700; refuses a symlink planted there by someone with write access."""
    try:
        path.mkdir(0o700)
        path.chmod(0o700)  # the umask must not widen or narrow it
        fsync_dir(path.parent)
    except FileExistsError:
        pass
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "work area is not a real directory", str(path))
    return path


def work_root(hot: Path) -> Path:
    """`<hot>/.faxdropd`, shared by every instance."""
    return _make_dir(hot / WORK_DIR)


def instance_dir(hot: Path, name: str) -> Path:
    """`<hot>/.faxdropd/<name>`, without creating it."""
    return hot / WORK_DIR / name


def work_dir(hot: Path) -> Path:
    """This instance's work area in `hot`, created on first use."""
    root = work_root(hot)
    return root if _instance is None else _make_dir(root / _instance)


def touch_alive(hot: Path) -> None:
    """The heartbeat a peer's `adopt` reads; a plain utime, so it costs one metadata write per folder."""
    path = work_dir(hot) / ALIVE
    try:
        os.utime(path)
    except FileNotFoundError:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))


def adopted_from(work_path: str) -> str | None:
    """The peer a work file was adopted from (`adopted-<peer>-<stamp>/…`), None for our own claims."""
    parent = Path(work_path).parent.name
    if not parent.startswith(ADOPTED_PREFIX):
        return None
    return parent[len(ADOPTED_PREFIX) :].rsplit("-", 1)[0]


def cleanup_work(hot: Path, live_job_ids: set[str], area: Path | None = None) -> list[Path]:
    """This instance's work files (or `area`'s: a dead peer's, jobs/takeover.py) that belong to no live job
    (sidecars first). Listed only: the daemon decides.

    Only regular entries named `<job_id>__<name>`: directories (adopted areas, retried/, other instances in the
    0.1 root) and the heartbeat are never anyone's orphan.
    """
    if area is None:
        area = hot / WORK_DIR if _instance is None else instance_dir(hot, _instance)
    try:
        entries = list(os.scandir(area))
    except (FileNotFoundError, NotADirectoryError):
        return []
    left = [
        Path(e.path)
        for e in entries
        if not e.is_dir(follow_symlinks=False)
        and e.name != RETRIED_DIR
        and "__" in e.name
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
