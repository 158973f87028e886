"""T19: wall-clock jumps during backoff, without touching the system clock.

A deferred job stores its next attempt as wall-clock time (it must survive restarts), so a clock jump shifts
"now" against the stored stamps. The test emulates the jump on the journal of a stopped daemon, then
restarts it:
* backward (now is a day earlier than the stamps): the next attempt looks a day away; the scheduler must
  clamp it (anything beyond retry.cap + 1 h is treated as a jump) and retry now, not in a day;
* forward (now is a day later): the job is overdue; it must be retried once, then back off again — no storm.

libfaketime was tried for a live jump (faketime 0.9.10 from Debian, FAKETIME_TIMESTAMP_FILE): after a jump,
Python 3.11's time.sleep fails with EINVAL under it, so the daemon cannot run there; hence the journal edit.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, drop, receipts, wait_for, write_config

pytestmark = pytest.mark.reliability

DAY = 86_400.0
CAP = 5.0  # retry.cap of write_config


def calls(emulator: Any, op: str = "StartFileUpload") -> list[dict[str, Any]]:
    ledger = requests.get(emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=10).json()
    return [c for c in ledger["calls"] if c["op"] == op]


def deferred_job(state: Path) -> dict[str, Any] | None:
    db = sqlite3.connect(f"file:{state / 'journal.sqlite3'}?mode=ro", uri=True, timeout=10)
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM jobs WHERE state = 'deferred'").fetchone()
        return dict(row) if row else None
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()


def shift_stamps(state: Path, job_id: str, by: float) -> None:
    """Move every wall-clock stamp of the job by `by` seconds: what a clock jump of -`by` looks like."""
    db = sqlite3.connect(state / "journal.sqlite3", timeout=10)
    try:
        with db:
            db.execute(
                "UPDATE jobs SET created_at = created_at + ?, updated_at = updated_at + ?, "
                "next_attempt_at = next_attempt_at + ? WHERE id = ?",
                (by, by, by, job_id),
            )
    finally:
        db.close()


def defer_one(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> tuple[DaemonProcess, Path, str]:
    """A daemon whose one document keeps failing transiently (-150) until it sits deferred; then stopped."""
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+99999990"}],
        extra={"delivery": {"track": False}, "retry": {"lifetime": "3d"}, "interfax": {"inline_max_bytes": 0}},
    )  # chunked: the fault hits before any send
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    # -150 on StartFileUpload: nothing was sent, so a plain transient retry (on SendfaxEx_2 it would be unknown)
    emulator.emulator.add_fault("StartFileUpload", "error", count=-1)
    drop(hot, "doc.txt", b"a document caught in a clock jump\n")
    # Stop inside a long backoff (>= 1.5 s left), so the stop cannot catch the job mid-attempt.
    wait_for(
        lambda: (j := deferred_job(tmp_path / "state")) and j["next_attempt_at"] - time.time() > 1.5,
        60,
        interval=0.05,
        what="the job in a backoff of a few seconds",
    )
    assert d.stop() == 0
    job = deferred_job(tmp_path / "state")
    assert job is not None
    return d, hot, str(job["id"])


def test_backward_jump_is_clamped_to_the_cap(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    d, hot, job_id = defer_one(tmp_path, emulator, daemons)
    shift_stamps(tmp_path / "state", job_id, +DAY)  # the clock went back a day after the deferral
    job = deferred_job(tmp_path / "state")
    assert job is not None and job["next_attempt_at"] - time.time() > DAY - 60
    emulator.emulator.clear_faults()
    before = len(calls(emulator))
    d.start()
    # Unclamped, the retry would come in a day; the bound here is the cap plus generous slack for a busy box.
    wait_for(lambda: receipts(hot / "sent"), CAP + 60, interval=0.2, what="the retry after a backward jump")
    assert len(calls(emulator)) == before + 1
    [receipt] = receipts(hot / "sent")
    assert receipt["outcome"] == "accepted"


def test_forward_jump_retries_once_then_backs_off(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    d, hot, job_id = defer_one(tmp_path, emulator, daemons)
    shift_stamps(tmp_path / "state", job_id, -DAY)  # the clock went forward a day: the job is long overdue
    before = len(calls(emulator))
    d.start()
    wait_for(lambda: len(calls(emulator)) >= before + 2, 60, interval=0.1, what="two retries after the jump")
    # An observation window, not a wait: a retry storm would show up as a burst of calls in it, and "no burst"
    # has no event to wait for. The assertions below count gaps between calls, never the wall clock.
    time.sleep(CAP)
    stamps = [datetime.fromisoformat(c["at"].replace("Z", "+00:00")).timestamp() for c in calls(emulator)[before:]]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    # One immediate retry, then each next one only after a backoff of at least retry.initial (0.5 s);
    # the schedule (0.5 s doubling, cap 5 s) allows at most this many calls in the window observed.
    window = stamps[-1] - stamps[0]
    assert all(gap >= 0.45 for gap in gaps), gaps
    assert len(stamps) <= window / 0.5 + 1, (len(stamps), window)
    job = wait_for(lambda: deferred_job(tmp_path / "state"), 30, what="the job deferred again")
    assert job["id"] == job_id
    assert job["next_attempt_at"] > time.time() - 1  # rescheduled from the new "now", not stuck in the past
    assert not receipts(hot / "failed")  # not given up: the retry lifetime is 3 days
    assert d.proc is not None and d.proc.poll() is None
