"""The only module that moves documents: claim into the work area, file with a receipt, requeue, release.

Rules every function keeps (DESIGN §4):
- nothing is ever overwritten: moves go through `link()` (fails with EEXIST) rather than a bare `rename()`;
- nothing is deleted without a complete copy: across filesystems, copy + fsync + place, and only then unlink;
- every step is repeatable after a crash: the receipt names the job, so a second attempt finds the first.
Names are whatever bytes the share holds; they are only ever passed to os functions, never decoded strictly.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faxdropd import crashpoints

WORK_DIR = ".faxdropd"
RETRIED_DIR = "retried"
RECEIPT_SUFFIX = ".receipt.json"
SIDECAR_SUFFIX = ".fax.yaml"
_TMP_PREFIX = ".faxdropd-tmp-"  # dot-named, and never ends in a suffix anyone globs for
_NAME_MAX = 255  # bytes, per path component on every filesystem we care about
_CHUNK = 1024 * 1024
_ATTEMPTS = 20
_RECEIPT_MAX = 1024 * 1024
# errno values meaning "no hard link here" (FAT, some SMB servers, directories, protected_hardlinks).
_NO_LINK = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS, errno.EACCES}


def work_dir(hot: Path) -> Path:
    """`<hot>/.faxdropd`, created 0700; refuses a symlink planted there by someone with write access."""
    path = hot / WORK_DIR
    try:
        path.mkdir(0o700)
        path.chmod(0o700)  # the umask must not widen or narrow it
        _fsync_dir(hot)
    except FileExistsError:
        pass
    if not stat.S_ISDIR(os.lstat(path).st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "work area is not a real directory", str(path))
    return path


def claim(src: Path, hot: Path, job_id: str) -> Path | None:
    """Atomically take `src` into the work area; None if it vanished (another daemon won the rename)."""
    prefix = f"{job_id}__"
    stem, ext = _split(src.name)
    # The prefix makes names unique per job; cutting the stem (not the extension) keeps it within NAME_MAX.
    dest = work_dir(hot) / (prefix + _fit(stem, ext, _NAME_MAX - len(os.fsencode(prefix))))
    try:
        # Same filesystem, so rename is atomic: of two daemons racing, exactly one finds the source.
        src.rename(dest)
    except FileNotFoundError:
        return None
    _fsync_dir(dest.parent)
    _fsync_dir(src.parent)
    return dest


def claim_sidecar(src: Path, hot: Path, job_id: str) -> Path | None:
    """Take `<doc>.fax.yaml` into the work area beside its document."""
    return claim(src, hot, job_id)


def unique_destination(dest_dir: Path, name: str, now: datetime) -> Path:
    """`dest_dir/name`, or `name.<UTC stamp>[-n].ext` if it (or its receipt or sidecar) already exists."""
    _check_name(name)
    stem, ext = _split(name)
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 10_000):
        tag = "" if n == 1 else f".{stamp}" if n == 2 else f".{stamp}-{n - 1}"
        candidate = dest_dir / _fit(stem, tag + ext, _NAME_MAX - len(RECEIPT_SUFFIX))
        if not any(os.path.lexists(f"{candidate}{s}") for s in ("", RECEIPT_SUFFIX, SIDECAR_SUFFIX)):
            return candidate
    raise FileExistsError(errno.EEXIST, "no free name", str(dest_dir / name))


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
) -> Path:
    """Move a job's document into `dest_dir` beside `<final>.receipt.json` and its sidecar; returns `<final>`.

    Order: receipt (it reserves the name and records the job), sidecar, then the document last, so "the
    work file is gone" means "everything is in place". Raises FileNotFoundError, creating nothing, when the
    hot folder or the work file is missing: a vanished share must not grow a `sent/` on the bare mount point.
    """
    if not hot.is_dir():
        raise FileNotFoundError(errno.ENOENT, "hot folder unavailable", str(hot))
    job_id = str(receipt.get("job_id") or "")
    if not os.path.lexists(work_path):
        found = find_filed([dest_dir], job_id) if job_id else None
        if found is None:
            raise FileNotFoundError(errno.ENOENT, "nothing to file", str(work_path))
        return found  # crashed after the move, before the journal knew
    now = now or datetime.now(UTC)
    tag = _tag(job_id)
    dest_dir.mkdir(parents=True, exist_ok=True)
    # Looking for an interrupted earlier attempt means listing dest_dir, which grows with every document
    # filed: a first attempt (`resume=False`, the caller knows) skips it so filing stays O(1).
    if job_id and resume:
        _sweep_temps(dest_dir, tag)
    # Only names derived from `name` can hold an earlier attempt's receipt: no need to read all of sent/.
    earlier = (_receipts_of(dest_dir, job_id, os.fsencode(_split(name)[0])[:100])
               if job_id and resume else iter(()))
    final = next((_document_of(r) for r in earlier), None)
    side = sidecar if sidecar is not None and os.path.lexists(sidecar) else None
    for _ in range(_ATTEMPTS):
        if final is None:
            final = unique_destination(dest_dir, name, now)
            if not _write_receipt(_receipt_path(final), receipt, tag):
                final = None  # another filer reserved the name between our look and our link
                continue
        crashpoints.hit("after_receipt")  # the reliability suite kills here: receipt placed, document not
        if side is not None and side != _sidecar_path(final):
            if not _place(side, _sidecar_path(final), tag):
                _abandon(final)
                final = None
                continue
            side = _sidecar_path(final)
        if _place(work_path, final, tag):
            _fsync_dir(dest_dir)
            _fsync_dir(work_path.parent)
            return final
        _abandon(final)  # a stranger's file squats the name: our receipt goes, we pick another
        final = None
    raise FileExistsError(errno.EEXIST, "could not find a free name", str(dest_dir / name))


def find_filed(dest_dirs: Iterable[Path], job_id: str) -> Path | None:
    """The filed document whose receipt names `job_id`, if any (recovery after a crash)."""
    for dest_dir in dest_dirs:
        for receipt in _receipts_of(dest_dir, job_id):
            document = _document_of(receipt)
            if os.path.lexists(document):
                return document
    return None


def requeue(document: Path, hot: Path) -> Path:
    """Put a filed document back into the hot folder; its receipt is kept in `.faxdropd/retried/`."""
    if not os.path.lexists(document):
        raise FileNotFoundError(errno.ENOENT, "no such document", str(document))
    receipt = _receipt_path(document)
    if os.path.lexists(receipt):
        retried = work_dir(hot) / RETRIED_DIR
        with suppress(FileExistsError):
            retried.mkdir(0o700)
        _move_noreplace(receipt, unique_destination(retried, receipt.name, datetime.now(UTC)), "retry")
    side = _sidecar_path(document)
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
        dest = consumed / _fit(prefix + receipt.name, "", _NAME_MAX)
        try:
            receipt.rename(dest)  # dest is unique per job: nothing is overwritten
        except FileNotFoundError:
            continue  # another job consumed this one first
        _fsync_dir(consumed)
        _fsync_dir(retried)
        return dest
    return None


def retried_receipts(hot: Path, sha256: str) -> list[Path]:
    """Receipts `requeue` set aside for content `sha256` and not consumed yet (read only)."""
    try:
        entries = sorted(os.scandir(hot / WORK_DIR / RETRIED_DIR), key=lambda e: os.fsencode(e.name))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [Path(e.path) for e in entries
            if e.name.endswith(RECEIPT_SUFFIX) and _receipt_has(Path(e.path), "sha256", sha256)]


def release(work_path: Path, hot: Path) -> Path:
    """Give a work-area file claimed by a job that never got journalled back to the hot folder, untouched."""
    original = work_path.name.split("__", 1)[1] if "__" in work_path.name else work_path.name
    return _back_to_hot(work_path, hot, original, None)


def _back_to_hot(src: Path, hot: Path, name: str, side: Path | None) -> Path:
    for _ in range(_ATTEMPTS):
        target = unique_destination(hot, name, datetime.now(UTC))
        try:
            # The sidecar goes first: the watcher may take the document the moment it appears.
            if side is not None:
                _move_noreplace(side, _sidecar_path(target), "retry")
                side = _sidecar_path(target)
            _move_noreplace(src, target, "retry")
        except FileExistsError:
            continue  # someone dropped the same name meanwhile
        _fsync_dir(hot)
        _fsync_dir(src.parent)
        return target
    raise FileExistsError(errno.EEXIST, "could not find a free name", str(hot / name))


def cleanup_work(hot: Path, live_job_ids: set[str]) -> list[Path]:
    """Work-area entries that belong to no live job (sidecars first). Listed only: the daemon decides."""
    try:
        entries = list(os.scandir(hot / WORK_DIR))
    except (FileNotFoundError, NotADirectoryError):
        return []
    left = [Path(e.path) for e in entries
            if not (e.name == RETRIED_DIR and e.is_dir(follow_symlinks=False))
            and e.name.split("__", 1)[0] not in live_job_ids]
    # A released sidecar must be back before its document, or the document is routed without it.
    return sorted(left, key=lambda p: (not p.name.endswith(SIDECAR_SUFFIX), os.fsencode(p.name)))


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace `path` with `data` as JSON, all or nothing, durable once this returns."""
    tmp = _write_temp(path.parent, _json(data), "json")
    try:
        tmp.replace(path)
    except BaseException:
        with suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


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
        if exc.errno not in _NO_LINK:
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
    tmp = dest.parent / f"{_TMP_PREFIX}{tag}-{secrets.token_hex(6)}"
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
    _fsync_dir(dest.parent)
    src.unlink()
    _fsync_dir(src.parent)


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
        if not _same(src, dest):
            return False
        src.unlink()  # `dest` is the same file (link made) or a complete copy: the source is redundant
    return True


def _same(a: Path, b: Path) -> bool:
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


# -- receipts -----------------------------------------------------------------------------------------


def _write_receipt(target: Path, receipt: Mapping[str, Any], tag: str) -> bool:
    """Create `target` complete or not at all, never replacing anything; False if the name is taken."""
    payload = _json(dict(receipt))
    tmp = _write_temp(target.parent, payload, tag)
    try:
        os.link(tmp, target, follow_symlinks=False)  # EEXIST, never an overwrite, even of a symlink
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        try:  # no hard links: an exclusive create written in place is the next best thing
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        try:
            _write_all(fd, payload)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        with suppress(FileNotFoundError):
            tmp.unlink()
    return True


def _abandon(final: Path) -> None:
    with suppress(FileNotFoundError):
        _receipt_path(final).unlink()  # our own receipt for a name we could not get


def _receipts_of(dest_dir: Path, job_id: str, prefix: bytes = b"") -> Iterator[Path]:
    try:
        entries = list(os.scandir(dest_dir))
    except (FileNotFoundError, NotADirectoryError):
        return
    for entry in entries:
        if (entry.name.endswith(RECEIPT_SUFFIX) and os.fsencode(entry.name).startswith(prefix)
                and _receipt_job(Path(entry.path), job_id)):
            yield Path(entry.path)


def _receipt_job(path: Path, job_id: str) -> bool:
    return _receipt_has(path, "job_id", job_id)


def _receipt_has(path: Path, key: str, value: str) -> bool:
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


# -- small helpers ------------------------------------------------------------------------------------


def _receipt_path(document: Path) -> Path:
    return document.with_name(document.name + RECEIPT_SUFFIX)


def _sidecar_path(document: Path) -> Path:
    return document.with_name(document.name + SIDECAR_SUFFIX)


def _document_of(receipt: Path) -> Path:
    return receipt.with_name(receipt.name[: -len(RECEIPT_SUFFIX)])


def _check_name(name: str) -> None:
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a file name: {name!r}")


def _split(name: str) -> tuple[str, str]:
    ext = Path(name).suffix
    stem = name[: len(name) - len(ext)]
    return (stem, ext) if 0 < len(os.fsencode(ext)) <= 16 else (name, "")  # a 200-byte "extension" is a stem


def _fit(stem: str, tail: str, limit: int) -> str:
    """`stem + tail` within `limit` bytes, cutting the stem, never the tag or extension after it."""
    raw_stem, raw_tail = os.fsencode(stem), os.fsencode(tail)
    return os.fsdecode(raw_stem[: max(0, limit - len(raw_tail))] + raw_tail)


def _tag(job_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "", job_id)[:40] or "job"


def _sweep_temps(dest_dir: Path, tag: str) -> None:
    """Drop this job's temp files from an interrupted attempt; each was a copy of a source still in place."""
    prefix = f"{_TMP_PREFIX}{tag}-"
    for entry in list(os.scandir(dest_dir)):
        if entry.name.startswith(prefix):
            with suppress(FileNotFoundError):
                Path(entry.path).unlink()


def _write_temp(directory: Path, payload: bytes, tag: str) -> Path:
    tmp = directory / f"{_TMP_PREFIX}{_tag(tag)}-{secrets.token_hex(6)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        _write_all(fd, payload)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink()
        raise
    os.close(fd)
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _json(data: Any) -> bytes:
    # ensure_ascii: names that are not valid UTF-8 (surrogate escapes) still serialise.
    return json.dumps(data, indent=2, ensure_ascii=True, default=str).encode("ascii") + b"\n"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # some network fs refuse it
            raise
    finally:
        os.close(fd)
