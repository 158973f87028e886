"""T7/T8 and the 10k-files memory bound.

Disk full uses REAL small filesystems: `mount -t tmpfs -o size=…` (needs root; the tests skip, saying so,
where mounting is impossible), filled with a filler file, not injected ENOSPC. Expected, per reliability.md:
- journal on a full disk: the daemon exits non-zero (74, EX_IOERR) instead of carrying on, and the restart
  once space is freed recovers every file;
- hot folder's filesystem full: documents are submitted once each, filing waits (no resend, no loss), and
  after SIGKILL + freeing space the restart files everything.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from daemonkit import wait_for

from reliability.invariants import ledger
from reliability.rig import Rig, make_emulator

pytestmark = pytest.mark.reliability

BIG_COUNT = int(os.environ.get("FAXDROPD_BIG_COUNT", "2000"))  # full run: FAXDROPD_BIG_COUNT=10000


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], capture_output=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); needs root")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the filesystem of `directory` until fewer than `leave` bytes stay free; returns the filler."""
    filler = directory / ".filler"
    st = os.statvfs(directory)
    target = max(0, st.f_bavail * st.f_frsize - leave)
    with filler.open("wb") as f:
        block = b"\0" * 65536
        written = 0
        try:
            while written < target:
                written += f.write(block[: min(len(block), target - written)])
                f.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_journal_disk_full_exits_nonzero_and_restart_recovers(tmp_path: Path) -> None:
    emulator = make_emulator(tmp_path / "store")
    with tmpfs(tmp_path / "state", "16m") as state:
        rig = Rig(tmp_path, emulator, track=True, state_dir=state)
        try:
            rig.start()  # creates the journal while there is room
            rig.stop()
            filler = fill(state, leave=96 * 1024)
            for i in range(40):
                rig.drop(f"j{i:02}.txt", f"journal full {i}\n".encode())
            rig.start(wait=False)
            code = rig.wait_exit(180)
            log = rig.daemon.log_text()
            assert code == 74, f"expected exit 74 on a full journal disk, got {code}:\n{log[-3000:]}"
            assert '"journal.write_failed"' in log
            filler.unlink()
            rig.quiesce()
            report = rig.check(all_sent=True)
            print(f"\njournal disk full: exit={code} {report.line()}")
            rig.stop()
        finally:
            rig.kill()
            emulator.stop()


def test_hot_folder_disk_full_never_resends_and_recovers(tmp_path: Path) -> None:
    emulator = make_emulator(tmp_path / "store")
    with tmpfs(tmp_path / "hot", "4m") as hot:
        rig = Rig(tmp_path, emulator, track=False, hot=hot)
        try:
            for i in range(12):
                rig.drop(f"h{i:02}.txt", f"hot full {i}\n".encode() * 50)
            (hot / "sent").mkdir()
            filler = fill(hot)
            rig.start()
            wait_for(lambda: len(ledger(emulator)["submissions"]) >= 12, 120, what="12 submissions")
            wait_for(lambda: '"job.filing_postponed"' in rig.daemon.log_text(), 60, what="postponed filing")
            # Filing retried (a refile pass) while the disk stays full: another postponement, not a resend.
            postponed = rig.daemon.log_text().count('"job.filing_postponed"')
            wait_for(
                lambda: rig.daemon.log_text().count('"job.filing_postponed"') > postponed, 60, what="a refile retry"
            )
            assert rig.running, "a full hot folder must not stop the daemon"
            assert len(ledger(emulator)["submissions"]) == 12, "filing trouble led to a resend"
            rig.kill()
            filler.unlink()
            rig.quiesce()
            report = rig.check(all_sent=True)
            print(f"\nhot folder disk full: {report.line()}")
            rig.stop()
        finally:
            rig.kill()
            emulator.stop()


def _vm_hwm_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_many_files_in_one_folder_memory_bounded(tmp_path: Path) -> None:
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=False, defaults={"rescan_interval": 5})
    try:
        for i in range(BIG_COUNT):
            data = f"tiny fax {i}\n".encode()
            (rig.hot / f"doc{i:05}.txt").write_bytes(data)
            rig.inputs.append(data)
        started = time.monotonic()
        rig.start()
        rig.quiesce(timeout=1800)
        assert rig.daemon.proc is not None
        hwm = _vm_hwm_kb(rig.daemon.proc.pid)
        elapsed = time.monotonic() - started
        report = rig.check(all_sent=True)
        assert report.submissions == BIG_COUNT
        print(
            f"\n{BIG_COUNT} files in one folder: filed in {elapsed:.0f}s, daemon VmHWM={hwm / 1024:.1f} MiB "
            f"{report.line()}"
        )
        rig.stop()
        # A bound loose enough for any machine, tight enough to catch per-file growth of a few KB.
        assert hwm < 400 * 1024
    finally:
        rig.kill()
        emulator.stop()


def test_journal_write_failure_is_raised_not_swallowed(tmp_path: Path) -> None:
    """In-process view of T8 on a real full tmpfs: every failed write surfaces as JournalFailure (the daemon's
    default, exit_on_failure=True, turns it into exit 74 - the subprocess test above), and nothing half-done
    is left behind: the job reads back in its last committed state."""
    from faxdropd.jobs.journal import Job, Journal, JournalFailure, State, new_job_id

    with tmpfs(tmp_path / "state", "2m") as state:
        journal = Journal(state, exit_on_failure=False)
        job = journal.create(
            Job(
                id=new_job_id(),
                reference="fd-x",
                folder="f",
                hot="/h",
                name="n",
                work_path="/h/.faxdropd/x__n",
                sidecar_path=None,
                state=State.CLAIMED,
            )
        )
        fill(state)
        with pytest.raises(JournalFailure):
            for i in range(10_000):  # the WAL grows until the filesystem refuses a page
                journal.transition(job, State.CLAIMED, "x" * 2000, reason=str(i) * 500)
        fresh = journal.get(job.id)
        assert fresh is not None and fresh.state is State.CLAIMED
        journal.close()
