"""The only module that moves documents: claim into the work area, file with a receipt, requeue, release.

Rules every function keeps (DESIGN §4):
- nothing is ever overwritten: moves go through `link()` (fails with EEXIST) rather than a bare `rename()`;
- nothing is deleted without a complete copy: across filesystems, copy + fsync + place, and only then unlink;
- every step is repeatable after a crash: the receipt names the job, so a second attempt finds the first.
Names are whatever bytes the share holds; they are only ever passed to os functions, never decoded strictly.
Helpers that move no document live in names, receipts, fsutil and workarea; the public ones are re-exported here.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faxdropd import crashpoints
from faxdropd.files.fsutil import NO_LINK, TMP_PREFIX, durable_dir, fsync_dir, same_file

# `_copy_file` looks `_write_all` up here, so a test can fill the disk half-way through a document copy.
from faxdropd.files.fsutil import write_all as _write_all
from faxdropd.files.fsutil import write_json_atomic as write_json_atomic
from faxdropd.files.names import NAME_MAX, document_of, fit, receipt_path, sidecar_path, split
from faxdropd.files.names import RECEIPT_SUFFIX as RECEIPT_SUFFIX
from faxdropd.files.names import RETRIED_DIR as RETRIED_DIR
from faxdropd.files.names import SIDECAR_SUFFIX as SIDECAR_SUFFIX
from faxdropd.files.names import WORK_DIR as WORK_DIR
from faxdropd.files.names import tag as _tag
from faxdropd.files.names import unique_destination as unique_destination
from faxdropd.files.receipts import receipts_of
from faxdropd.files.receipts import retried_receipts as retried_receipts
from faxdropd.files.receipts import write_receipt as _write_receipt
from faxdropd.files.workarea import cleanup_work as cleanup_work
from faxdropd.files.workarea import out_of_reach as out_of_reach
from faxdropd.files.workarea import work_dir as work_dir
from faxdropd.files.workarea import work_root

_CHUNK = 1024 * 1024
_ATTEMPTS = 20


def claim(src: Path, hot: Path, job_id: str, *, sync: bool = True) -> Path | None:
    """Atomically take `src` into the work area; None if it vanished (another daemon won the rename).

    ``sync=False`` leaves the two directory fsyncs to the caller, who claims a batch and then calls
    sync_dirs() once for all of it, before journaling any of them.
    """
    prefix = f"{job_id}__"
    stem, ext = split(src.name)
    # The prefix makes names unique per job; cutting the stem (not the extension) keeps it within NAME_MAX.
    dest = work_dir(hot) / (prefix + fit(stem, ext, NAME_MAX - len(os.fsencode(prefix))))
    try:
        # Same filesystem, so rename is atomic: of two daemons racing, exactly one finds the source.
        src.rename(dest)
    except FileNotFoundError:
        return None
    if sync:
        sync_dirs([dest.parent, src.parent])
    return dest


def take_from_peer(src: Path, hot: Path) -> Path | None:
    """A job's work file from a peer's area into ours, same name (jobs/takeover.py); None if in neither place.

    Done before the journal is updated: a crash in between finds the file here and only re-points the job."""
    dest = work_dir(hot) / src.name
    if os.path.lexists(dest):
        return dest
    try:
        src.rename(dest)  # the same share: atomic
    except FileNotFoundError:
        return None
    sync_dirs([dest.parent, src.parent])
    return dest


def claim_sidecar(src: Path, hot: Path, job_id: str, *, sync: bool = True) -> Path | None:
    """Take `<doc>.fax.yaml` into the work area beside its document."""
    return claim(src, hot, job_id, sync=sync)


def sync_dirs(paths: Iterable[Path]) -> None:
    """fsync each distinct directory once: the renames of a batch of claims become durable together."""
    for path in dict.fromkeys(paths):
        fsync_dir(path)


def file_document(
    work_path: Path,
    dest_dir: Path,
    name: str,
    receipt: Mapping[str, Any],
    *,
    hot: Path,
    sidecar: Path | None = None,
    now: datetime | None = None,
    resume: bool = True,
    sync: bool = True,
) -> Path:
    """Move a job's document into `dest_dir` beside `<final>.receipt.json` and its sidecar; returns `<final>`.

    Order: receipt (it reserves the name and records the job), sidecar, then the document last, so "the
    work file is gone" means "everything is in place". FileNotFoundError, creating nothing, without hot/work.
    ``sync=False``: the caller fsyncs `dest_dir` and the work area (sync_dirs) before journaling it filed.
    """
    if not hot.is_dir():  # a vanished share must not grow a `sent/` on the bare mount point
        raise FileNotFoundError(errno.ENOENT, "hot folder unavailable", str(hot))
    job_id = str(receipt.get("job_id") or "")
    if not os.path.lexists(work_path):
        found = find_filed([dest_dir], job_id) if job_id else None
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "nothing to file", str(work_path))
        return found  # crashed after the move, before the journal knew
    now = now or datetime.now(UTC)
    tag = _tag(job_id)
    durable_dir(dest_dir)
    # Looking for an interrupted earlier attempt means listing dest_dir, which grows with every document
    # filed: a first attempt (`resume=False`, the caller knows) skips it so filing stays O(1).
    if job_id and resume:
        _sweep_temps(dest_dir, tag)
    # Only names derived from `name` can hold an earlier attempt's receipt: no need to read all of sent/.
    earlier = receipts_of(dest_dir, job_id, os.fsencode(split(name)[0])[:100]) if job_id and resume else iter(())
    final = next((document_of(r) for r in earlier), None)
    side = sidecar if sidecar is not None and os.path.lexists(sidecar) else None
    for _ in range(_ATTEMPTS):
        if final is None:
            final = unique_destination(dest_dir, name, now)
            if not _write_receipt(receipt_path(final), receipt, tag):
                final = None  # another filer reserved the name between our look and our link
                continue
        crashpoints.hit("after_receipt", name)  # the reliability suite kills here: receipt placed, document not
        if side is not None and side != sidecar_path(final):
            if not _place(side, sidecar_path(final), tag):
                _abandon(final)
                final = None
                continue
            side = sidecar_path(final)
        if _place(work_path, final, tag):
            if sync:
                sync_dirs([dest_dir, work_path.parent])
            return final
        _abandon(final)  # a stranger's file squats the name: our receipt goes, we pick another
        final = None
    raise FileExistsError(errno.EEXIST, "could not find a free name", str(dest_dir / name))


def find_filed(dest_dirs: Iterable[Path], job_id: str) -> Path | None:
    """The filed document whose receipt names `job_id`, if any (recovery after a crash)."""
    for dest_dir in dest_dirs:
        for receipt in receipts_of(dest_dir, job_id):
            document = document_of(receipt)
            if os.path.lexists(document):
                return document
    return None


def requeue(document: Path, hot: Path) -> Path:
    """Put a filed document back into the hot folder; its receipt is kept in `.faxdropd/retried/`."""
    if not os.path.lexists(document):
        raise FileNotFoundError(errno.ENOENT, "no such document", str(document))
    receipt = receipt_path(document)
    if os.path.lexists(receipt):
        retried = work_root(hot) / RETRIED_DIR  # shared by all instances: any host may consume the retry
        with suppress(FileExistsError):
            retried.mkdir(0o700)
        _move_noreplace(receipt, unique_destination(retried, receipt.name, datetime.now(UTC)), "retry")
    side = sidecar_path(document)
    return _back_to_hot(document, hot, document.name, side if os.path.lexists(side) else None)


CONSUMED_DIR = "consumed"  # under retried/: receipts whose retry authorised one send on purpose


def consume_retried(hot: Path, sha256: str, job_id: str) -> Path | None:
    """Take the receipt `requeue` set aside for content `sha256`, for job `job_id`; None if there is none.

    The rename into `retried/consumed/<job_id>__<name>` is atomic, so of two jobs with the same content
    exactly one consumes a given retry. A crash after the rename is harmless: the job's own consumed receipt
    is found first when it is processed again.
    """
    retried = hot / WORK_DIR / RETRIED_DIR
    consumed = retried / CONSUMED_DIR
    prefix = f"{job_id}__"
    try:
        mine = [e for e in os.scandir(consumed) if e.name.startswith(prefix)]
        if mine:
            return Path(mine[0].path)
    except (FileNotFoundError, NotADirectoryError):
        pass
    for receipt in retried_receipts(hot, sha256):
        with suppress(FileExistsError):
            consumed.mkdir(0o700)
        dest = consumed / fit(prefix + receipt.name, "", NAME_MAX)
        try:
            receipt.rename(dest)  # dest is unique per job: nothing is overwritten
        except FileNotFoundError:
            continue  # another job consumed this one first
        fsync_dir(consumed)
        fsync_dir(retried)
        return dest
    return None


def release(work_path: Path, hot: Path) -> Path:
    """Give a work-area file claimed by a job that never got journalled back to the hot folder, untouched.

    Under its own name whenever that is free, even if a sidecar of that name is there: a document and its
    sidecar released one at a time (after a crash between their claims, or a sidecar that could not be
    claimed) must find each other again, never come back as `name.<stamp>.pdf` without its destinations.
    """
    original = work_path.name.split("__", 1)[1] if "__" in work_path.name else work_path.name
    target = hot / original
    try:
        _move_noreplace(work_path, target, "release")
    except FileExistsError:
        if _one_inode(work_path, target):
            # The claim's rename was only half durable (a power cut where the work area was synced and the hot
            # folder not): one file under both names. Releasing it under a second name would make it two inputs.
            work_path.unlink()
            fsync_dir(work_path.parent)
            return target
        return _back_to_hot(work_path, hot, original, None)  # a new file of that name arrived meanwhile
    fsync_dir(hot)
    fsync_dir(work_path.parent)
    return target


def _one_inode(a: Path, b: Path) -> bool:
    try:
        sa, sb = os.lstat(a), os.lstat(b)
    except FileNotFoundError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _back_to_hot(src: Path, hot: Path, name: str, side: Path | None) -> Path:
    for _ in range(_ATTEMPTS):
        target = unique_destination(hot, name, datetime.now(UTC))
        try:
            # The sidecar goes first: the watcher may take the document the moment it appears.
            if side is not None:
                _move_noreplace(side, sidecar_path(target), "retry")
                side = sidecar_path(target)
            _move_noreplace(src, target, "retry")
        except FileExistsError:
            continue  # someone dropped the same name meanwhile
        fsync_dir(hot)
        fsync_dir(src.parent)
        return target
    raise FileExistsError(errno.EEXIST, "could not find a free name", str(hot / name))


# -- moving without overwriting ----------------------------------------------------------------------


def _move_noreplace(src: Path, dest: Path, tag: str) -> None:
    """Move `src` to `dest`; FileExistsError if `dest` exists. Copies across filesystems."""
    try:
        os.link(src, dest, follow_symlinks=False)  # a symlink moves as itself, never as its target
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno == errno.EXDEV:
            _copy_across(src, dest, tag)
            return
        if exc.errno not in NO_LINK:
            raise
        # No hard links here: check, then rename. The window is the best this filesystem offers.
        if os.path.lexists(dest):
            raise FileExistsError(errno.EEXIST, "destination exists", str(dest)) from None
        src.rename(dest)
        return
    src.unlink()


def _copy_across(src: Path, dest: Path, tag: str) -> None:
    """Copy to a temp name beside `dest`, fsync, place it without overwriting; only then unlink `src`."""
    st = os.lstat(src)
    tmp = dest.parent / f"{TMP_PREFIX}{tag}-{secrets.token_hex(6)}"
    try:
        if stat.S_ISREG(st.st_mode):
            _copy_file(src, tmp, st)
        elif stat.S_ISLNK(st.st_mode):
            tmp.symlink_to(src.readlink())
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(tmp, 0o600)
        else:
            raise OSError(errno.EXDEV, "cannot move this kind of file across filesystems", str(src))
        _move_noreplace(tmp, dest, tag)  # same directory: a link, never an overwrite
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_dir(dest.parent)
    src.unlink()
    fsync_dir(src.parent)


def _copy_file(src: Path, tmp: Path, st: os.stat_result) -> None:
    sfd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        dfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            copied = 0
            while chunk := os.read(sfd, _CHUNK):
                _write_all(dfd, chunk)
                copied += len(chunk)
            if copied != os.fstat(sfd).st_size:
                raise OSError(errno.EIO, "source changed during copy", str(src))
            os.fchmod(dfd, stat.S_IMODE(st.st_mode) & 0o777)
            os.fsync(dfd)
        finally:
            os.close(dfd)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
    finally:
        os.close(sfd)


def _place(src: Path, dest: Path, tag: str) -> bool:
    """Move without overwriting; True also when an interrupted earlier attempt already put it there."""
    try:
        _move_noreplace(src, dest, tag)
    except FileExistsError:
        if not same_file(src, dest):
            return False
        src.unlink()  # `dest` is the same file (link made) or a complete copy: the source is redundant
    return True


# -- receipts and temps --------------------------------------------------------------------------------


def _abandon(final: Path) -> None:
    with suppress(FileNotFoundError):
        receipt_path(final).unlink()  # our own receipt for a name we could not get


def _sweep_temps(dest_dir: Path, tag: str) -> None:
    """Drop this job's temp files from an interrupted attempt; each was a copy of a source still in place."""
    prefix = f"{TMP_PREFIX}{tag}-"
    for entry in list(os.scandir(dest_dir)):
        if entry.name.startswith(prefix):
            with suppress(FileNotFoundError):
                Path(entry.path).unlink()
