"""powerfs, the power-cut filesystem, proves its own model before it judges the daemon.

Each test mounts a fresh powerfs, does something through the mount, cuts power and looks at what survived: unsynced
data and unsynced names are gone, synced ones stay, and SQLite in WAL mode keeps every commit only when it is allowed
to fsync (synchronous=FULL), not when it is not (synchronous=OFF): the tool sees a missing fsync.

Without FUSE the tests skip, except under CI=true, where a missing tool must not pass for a proof.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import fcntl
import mmap
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from reliability.powerfs import PowerFs, fuse_unavailable, wait_until

pytestmark = pytest.mark.reliability

# Words in the server's log that mean the machine cannot mount FUSE, as opposed to powerfs being broken.
NO_FUSE_HINTS = ("fusermount3:", "fuse: device not found", "/dev/fuse", "Operation not permitted", "libfuse")


def no_fuse(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"powerfs cannot run under CI: {reason}")
    pytest.skip(f"powerfs cannot run here: {reason}")


@pytest.fixture
def pfs(tmp_path: Path) -> Iterator[PowerFs]:
    reason = fuse_unavailable()
    if reason is not None:
        no_fuse(reason)
    fs = PowerFs(tmp_path / "storage", tmp_path / "mnt")
    try:
        try:
            fs.mount()
        except RuntimeError as exc:
            if any(hint in str(exc) for hint in NO_FUSE_HINTS):
                no_fuse(str(exc))
            raise
        yield fs
    finally:
        fs.unmount()
        assert not os.path.ismount(fs.mountpoint), "powerfs left a mount behind"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write(path: Path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_unsynced_data_is_gone_after_a_cut_and_synced_data_stays(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    fd = os.open(mnt / "ledger", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    fsync_dir(mnt)  # the name is durable from here on; only the data is at stake
    os.write(fd, b"durable line\n")
    os.fdatasync(fd)
    os.pwrite(fd, b"VOLATILE", 0)
    os.write(fd, b"lost line\n")
    os.close(fd)
    write(mnt / "never-synced", b"x" * 5000, sync=False)
    fsync_dir(mnt)
    assert (mnt / "ledger").read_bytes() == b"VOLATILEline\nlost line\n"  # readers see everything at once

    report = pfs.cut()
    assert (mnt / "ledger").read_bytes() == b"durable line\n"
    assert (mnt / "never-synced").stat().st_size == 0  # the name was synced, its data never was
    assert report["last_cut_bytes_dropped"] >= 5000 + len(b"VOLATILE") + len(b"lost line\n")
    assert report["fdatasyncs"] == 1

    pfs.remount()  # a new server over the durable image: the same picture
    assert (mnt / "ledger").read_bytes() == b"durable line\n"
    assert (mnt / "never-synced").read_bytes() == b""


def test_a_synced_file_without_a_synced_directory_entry_is_gone(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    write(mnt / "kept", b"fsync'd data and name", sync=True)
    (mnt / "spool").mkdir()
    write(mnt / "spool" / "job", b"deep", sync=True)
    fsync_dir(mnt / "spool")
    fsync_dir(mnt)  # makes "kept" and "spool" durable and, with them, what they point at
    write(mnt / "orphan", b"fsync'd data, name never synced", sync=True)
    (mnt / "inbox").mkdir()
    write(mnt / "inbox" / "fax", b"synced in a directory whose own name is not", sync=True)
    fsync_dir(mnt / "inbox")
    assert sorted(os.listdir(mnt)) == ["inbox", "kept", "orphan", "spool"]

    report = pfs.cut()
    assert sorted(os.listdir(mnt)) == ["kept", "spool"]
    assert report["last_cut_inodes_dropped"] == 3
    pfs.remount()
    assert sorted(os.listdir(mnt)) == ["kept", "spool"]
    assert (mnt / "kept").read_bytes() == b"fsync'd data and name"
    assert (mnt / "spool" / "job").read_bytes() == b"deep"


def test_an_unsynced_rename_reverts_and_a_synced_one_stays(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    (mnt / "incoming").mkdir()
    (mnt / "work").mkdir()
    write(mnt / "incoming" / "a.pdf", b"document a", sync=True)
    write(mnt / "incoming" / "b.pdf", b"document b", sync=True)
    write(mnt / "receipt", b"old receipt", sync=True)
    for directory in (mnt / "incoming", mnt / "work", mnt):
        fsync_dir(directory)

    # Synced on both sides: the claim of b.pdf.
    (mnt / "incoming" / "b.pdf").rename(mnt / "work" / "b.pdf")
    fsync_dir(mnt / "incoming")
    fsync_dir(mnt / "work")
    # Not synced: the claim of a.pdf and a receipt replaced by rename.
    (mnt / "incoming" / "a.pdf").rename(mnt / "work" / "a.pdf")
    write(mnt / "receipt.tmp", b"new receipt", sync=True)
    (mnt / "receipt.tmp").rename(mnt / "receipt")
    assert (mnt / "receipt").read_bytes() == b"new receipt"

    pfs.cut()
    pfs.remount()
    assert sorted(os.listdir(mnt / "incoming")) == ["a.pdf"]
    assert sorted(os.listdir(mnt / "work")) == ["b.pdf"]
    assert (mnt / "incoming" / "a.pdf").read_bytes() == b"document a"
    assert (mnt / "work" / "b.pdf").read_bytes() == b"document b"
    assert (mnt / "receipt").read_bytes() == b"old receipt"
    assert not (mnt / "receipt.tmp").exists()

    # The receipt protocol done right: write, fsync, rename over, fsync the directory.
    write(mnt / "receipt.tmp", b"new receipt", sync=True)
    (mnt / "receipt.tmp").rename(mnt / "receipt")
    fsync_dir(mnt)
    pfs.cut()
    pfs.remount()
    assert (mnt / "receipt").read_bytes() == b"new receipt"
    assert sorted(os.listdir(mnt)) == ["incoming", "receipt", "work"]


def test_hard_links_keep_identity_across_a_cut(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    write(mnt / "one", b"shared", sync=False)
    os.link(mnt / "one", mnt / "two")
    assert (mnt / "one").stat().st_nlink == 2
    assert (mnt / "one").stat().st_ino == (mnt / "two").stat().st_ino
    fd = os.open(mnt / "two", os.O_RDWR)
    os.pwrite(fd, b"SH", 0)
    os.fsync(fd)
    os.close(fd)
    fsync_dir(mnt)
    pfs.cut()
    pfs.remount()
    assert (mnt / "one").read_bytes() == b"SHared"
    assert (mnt / "one").stat().st_nlink == 2
    assert (mnt / "one").stat().st_ino == (mnt / "two").stat().st_ino


def test_rename_noreplace_refuses_to_replace(pfs: PowerFs) -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    at_fdcwd, rename_noreplace = -100, 1
    mnt = pfs.mountpoint
    write(mnt / "claim", b"mine", sync=False)
    write(mnt / "taken", b"theirs", sync=False)
    result = libc.renameat2(at_fdcwd, bytes(mnt / "claim"), at_fdcwd, bytes(mnt / "taken"), rename_noreplace)
    assert result == -1 and ctypes.get_errno() == errno.EEXIST
    assert (mnt / "taken").read_bytes() == b"theirs"
    result = libc.renameat2(at_fdcwd, bytes(mnt / "claim"), at_fdcwd, bytes(mnt / "free"), rename_noreplace)
    assert result == 0
    assert (mnt / "free").read_bytes() == b"mine"


WRITER = textwrap.dedent(
    """
    import sqlite3, sys
    path, synchronous, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS jobs (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    db.execute(f"PRAGMA synchronous={synchronous}")
    for i in range(rows):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO jobs (id, body) VALUES (?, ?)", (i, f"job {i} " + "x" * 200))
        db.execute("COMMIT")
        print(f"committed {i}", flush=True)
    print("done", flush=True)
    sys.stdin.read()  # hold the database open, like a running daemon, until SIGKILL
    """
)


def read_until(process: subprocess.Popen[bytes], marker: bytes, timeout: float) -> bytes:
    """The process's stdout up to and including `marker`, waiting at most `timeout` seconds for it."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    output = b""
    end = time.monotonic() + timeout
    while marker not in output:
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {timeout}s waiting for {marker!r}; got {output[-500:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                raise AssertionError(f"the process exited ({process.wait(30)}) before {marker!r}: {stderr[-2000:]}")
            output += chunk
    return output


def commit_rows_then_kill(pfs: PowerFs, synchronous: str, rows: int) -> None:
    """A subprocess commits `rows` rows one transaction each, then dies by SIGKILL with the database open."""
    script = pfs.storage.parent / "writer.py"
    script.write_text(WRITER)
    db = pfs.mountpoint / "journal.sqlite3"
    writer = subprocess.Popen([sys.executable, str(script), str(db), synchronous, str(rows)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        assert writer.stdout is not None
        output = read_until(writer, b"done\n", 60)
        assert f"committed {rows - 1}\n".encode() in output
        # A second process reads while the writer holds the database: WAL's shared memory (-shm, mmap'd by both)
        # must work on the mount for this to see the commits.
        reader = sqlite3.connect(db, timeout=10)
        try:
            assert reader.execute("SELECT count(*) FROM jobs").fetchone()[0] == rows
        finally:
            reader.close()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        for stream in (writer.stdin, writer.stdout, writer.stderr):
            if stream is not None:
                stream.close()


def count_after_cut(pfs: PowerFs) -> tuple[int, str]:
    pfs.cut()
    return count_after_cut_already_done(pfs)


def count_after_cut_already_done(pfs: PowerFs) -> tuple[int, str]:
    pfs.remount()
    db = sqlite3.connect(pfs.mountpoint / "journal.sqlite3")
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        count = db.execute("SELECT count(*) FROM jobs").fetchone()[0]
        assert [row[0] for row in db.execute("SELECT id FROM jobs ORDER BY id")] == list(range(count))
        return int(count), str(integrity)
    finally:
        db.close()


def test_sqlite_wal_full_keeps_every_commit_across_sigkill_and_a_cut(pfs: PowerFs) -> None:
    commit_rows_then_kill(pfs, "FULL", 50)
    before = pfs.stats()
    count, integrity = count_after_cut(pfs)
    print(f"\nWAL synchronous=FULL: {count}/50 rows after the cut, integrity {integrity}; "
          f"{before['fsyncs']} fsyncs, {before['fdatasyncs']} fdatasyncs, {before['fsyncdirs']} fsyncdirs, "
          f"{pfs.last_stats['last_cut_bytes_dropped']} bytes dropped")  # fmt: skip
    assert integrity == "ok"
    assert count == 50


def test_sqlite_wal_synchronous_off_loses_commits_at_a_cut(pfs: PowerFs) -> None:
    commit_rows_then_kill(pfs, "OFF", 50)
    count, integrity = count_after_cut(pfs)
    print(f"\nWAL synchronous=OFF: {count}/50 rows after the cut ({50 - count} committed rows lost), "
          f"integrity {integrity}; {pfs.last_stats['last_cut_bytes_dropped']} bytes dropped")  # fmt: skip
    assert integrity == "ok"
    assert count < 50, "synchronous=OFF lost nothing: powerfs would not catch a missing fsync"


LOCKER = textwrap.dedent(
    """
    import fcntl, sys
    lock = open(sys.argv[1], "a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("locked", flush=True)
    sys.stdin.read()
    """
)


def test_flock_on_the_mount_excludes_a_second_holder(pfs: PowerFs) -> None:
    path = pfs.mountpoint / "faxdropd.lock"
    holder = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        with path.open("a") as mine:
            with pytest.raises(BlockingIOError):
                fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)

            def free() -> bool:
                try:
                    fcntl.flock(mine, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return False
                return True

            wait_until(free, 10, "the dead holder's flock to be released")
    finally:
        holder.kill()
        holder.wait(30)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()


def test_handles_opened_before_a_cut_fail_afterwards(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    write(mnt / "open", b"", sync=True)
    fsync_dir(mnt)
    fd = os.open(mnt / "open", os.O_WRONLY)
    try:
        pfs.cut()
        with pytest.raises(OSError) as raised:
            os.write(fd, b"after the cut")
        assert raised.value.errno == errno.EIO
    finally:
        os.close(fd)
    assert (mnt / "open").read_bytes() == b""


def test_a_cut_at_a_random_moment_keeps_every_acknowledged_full_commit(pfs: PowerFs) -> None:
    script = pfs.storage.parent / "writer.py"
    script.write_text(WRITER)
    db = pfs.mountpoint / "journal.sqlite3"
    writer = subprocess.Popen([sys.executable, str(script), str(db), "FULL", "100000"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert writer.stdout is not None
        early = read_until(writer, b"committed 0\n", 60)  # the schema exists: a cut from now on is meaningful
        timer = pfs.cut_at_random(0.05, 0.8, random.Random(int(os.environ.get("POWERFS_SEED", "7"))))
        timer.join(30)
        # The writer's handles are dead (EIO) from the cut on, as if it had lost power with the machine.
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
        lines = (early + writer.stdout.read()).splitlines()
        acknowledged = max(int(line.split()[1]) for line in lines if line.startswith(b"committed ")) + 1
    finally:
        writer.kill()
        writer.wait(30)
        for stream in (writer.stdin, writer.stdout):
            if stream is not None:
                stream.close()
    count, integrity = count_after_cut_already_done(pfs)
    print(f"\nrandom cut under synchronous=FULL: {acknowledged} commits acknowledged, {count} rows after the cut, "
          f"integrity {integrity}")  # fmt: skip
    assert integrity == "ok"
    # One more than acknowledged is fine: durable, but killed before it could say so.
    assert acknowledged <= count <= acknowledged + 1


def test_what_the_daemon_and_sqlite_use_behaves_as_on_a_local_disk(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    (mnt / "t").write_bytes(b"abcdef")
    (mnt / "t").write_bytes(b"x")  # O_TRUNC on an existing file
    assert (mnt / "t").read_bytes() == b"x"
    with pytest.raises(FileExistsError):
        os.open(mnt / "t", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    os.symlink("t", mnt / "link")
    assert os.readlink(mnt / "link") == "t" and (mnt / "link").read_bytes() == b"x"
    with pytest.raises(OSError) as raised:
        os.open(mnt / "link", os.O_RDONLY | os.O_NOFOLLOW)
    assert raised.value.errno == errno.ELOOP
    os.makedirs(mnt / "a" / "b")
    assert (mnt / "a").stat().st_nlink == 3
    with pytest.raises(OSError) as raised:
        os.rmdir(mnt / "a")
    assert raised.value.errno == errno.ENOTEMPTY
    os.utime(mnt / "t", ns=(1_000_000_001, 2_000_000_002))
    os.chmod(mnt / "t", 0o600)
    st = os.lstat(mnt / "t")
    assert (st.st_mtime_ns, st.st_atime_ns, st.st_mode & 0o777, st.st_size) == (2_000_000_002, 1_000_000_001, 0o600, 1)
    assert os.statvfs(mnt).f_bsize == 4096
    fd = os.open(mnt / "shared", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        os.ftruncate(fd, 8192)
        with mmap.mmap(fd, 8192) as shared:
            shared[4096:4101] = b"mmap!"
            shared.flush()
        assert os.pread(fd, 5, 4096) == b"mmap!"
    finally:
        os.close(fd)


def test_a_rename_synced_on_one_side_only_is_half_durable(pfs: PowerFs) -> None:
    mnt = pfs.mountpoint
    for name in ("hot1", "hot2", "work"):
        (mnt / name).mkdir()
    write(mnt / "hot1" / "a.pdf", b"a", sync=True)
    write(mnt / "hot2" / "b.pdf", b"b", sync=True)
    for directory in (mnt / "hot1", mnt / "hot2", mnt / "work", mnt):
        fsync_dir(directory)
    # A claim that syncs only the work area: after the cut the document is both claimed and still waiting.
    (mnt / "hot1" / "a.pdf").rename(mnt / "work" / "a.pdf")
    fsync_dir(mnt / "work")
    # A claim that syncs only the hot folder (work is not synced again): after the cut the document is nowhere.
    (mnt / "hot2" / "b.pdf").rename(mnt / "work" / "b.pdf")
    fsync_dir(mnt / "hot2")
    pfs.cut()
    pfs.remount()
    assert os.listdir(mnt / "hot1") == ["a.pdf"]
    assert os.listdir(mnt / "hot2") == []
    assert os.listdir(mnt / "work") == ["a.pdf"]
    assert (mnt / "work" / "a.pdf").stat().st_ino == (mnt / "hot1" / "a.pdf").stat().st_ino
    assert (mnt / "work" / "a.pdf").stat().st_nlink == 2
