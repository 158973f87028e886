"""T18: a poison document — one whose parsing takes the process down — is quarantined after a bounded number
of processing starts, while other documents keep flowing.

"Takes the process down" is real here: the daemon is SIGKILLed (as the OOM killer or a watchdog would) each
time it is seen parsing the poison, a 90,000-page PDF that keeps pypdf busy for seconds. Each processing
start is journaled before pre-flight, so the test watches the journal for it and kills right after.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, drop, receipts, wait_for, write_config

from faxdropd.document.preflight import _assemble
from faxdropd.jobs.pipeline import MAX_PROCESSING_STARTS

pytestmark = pytest.mark.reliability


def slow_pdf(nodes: int = 180, per_node: int = 500) -> bytes:
    """A two-level page tree of nodes x per_node empty pages (under pypdf's 100,000-entry limit)."""
    count = nodes * per_node
    kids = " ".join(f"{3 + i} 0 R" for i in range(nodes))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode()]
    first_page = 3 + nodes
    for i in range(nodes):
        leaf = " ".join(f"{first_page + i * per_node + j} 0 R" for j in range(per_node))
        objects.append(f"<< /Type /Pages /Parent 2 0 R /Kids [{leaf}] /Count {per_node} >>".encode())
    objects += [b"<< /Type /Page /MediaBox [0 0 612 792] >>"] * count
    return _assemble(objects)


def processing_starts(state: Path, name: str) -> int:
    """How many processing starts of `name` the journal has committed (read-only, beside the daemon)."""
    path = state / "journal.sqlite3"
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute(
            "SELECT COUNT(*) FROM events e JOIN jobs j ON j.id = e.job_id WHERE j.name = ? AND e.detail = ?",
            (name, "processing"),
        ).fetchone()
        return int(row[0])
    except sqlite3.OperationalError:
        return 0  # schema not created yet
    finally:
        db.close()


def test_poison_is_quarantined_after_bounded_starts_and_others_flow(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(
        tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}], extra={"delivery": {"track": False}}
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    drop(hot, "poison.pdf", slow_pdf())
    others: list[str] = []
    for kill in range(1, MAX_PROCESSING_STARTS + 1):

        def started(k: int = kill) -> bool:
            return processing_starts(tmp_path / "state", "poison.pdf") >= k

        wait_for(started, 90, interval=0.05, what=f"processing start {kill} of the poison")
        d.kill()  # SIGKILL while pypdf is still walking the page tree
        assert d.proc is not None and d.proc.returncode == -9
        assert not receipts(hot / "failed"), "the poison finished parsing before the kill; make it slower"
        name = f"other-{kill}.txt"
        drop(hot, name, f"an innocent document number {kill}\n".encode())
        others.append(name)
        d.start()

    wait_for(lambda: receipts(hot / "failed"), 90, interval=0.2, what="the poison quarantined")
    [poison] = receipts(hot / "failed")
    assert poison["file"] == "poison.pdf" and poison["outcome"] == "rejected"
    assert poison["reason"] == f"quarantined: processing stopped the daemon {MAX_PROCESSING_STARTS} times"
    assert (hot / "failed" / "poison.pdf").exists()
    # The quarantining start journals no further processing start: it never parses the poison again.
    assert processing_starts(tmp_path / "state", "poison.pdf") == MAX_PROCESSING_STARTS

    wait_for(lambda: len(receipts(hot / "sent")) == len(others), 90, interval=0.2, what="the others sent")
    assert sorted(r["file"] for r in receipts(hot / "sent")) == sorted(others)
    subs = requests.get(emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=10).json()["submissions"]
    assert len(subs) == len(others)  # the poison was never submitted
    assert d.proc is not None and d.proc.poll() is None
    assert d.stop() == 0
