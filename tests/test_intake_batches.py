"""A backlog is claimed half a pool at a time (daemon/mainloop.py:_intake, issue #19 scale), by a real daemon.

Claiming one file per finished job made every claim pay a journal commit, directory fsyncs and a listing of a
folder of thousands; the claims of one batch share the journal's creation time, so the journal shows the batches.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from daemonkit import DaemonProcess, arm_fault, documents, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf
from faxdropd.jobs.schema import journal_path

FILES = 24


def test_a_backlog_is_claimed_in_batches_of_half_the_pool(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot, staging = tmp_path / "in", tmp_path / "staging"
    hot.mkdir()
    staging.mkdir()
    # One worker (a pool of 4) and a slow InterFAX: the backlog outlasts many finished jobs.
    arm_fault(emulator, op="SendfaxEx_2", kind="latency", seconds=0.15, count=FILES)
    cfg = write_config(
        tmp_path, emulator.url, [{"path": str(hot), "to": "+12125550100"}],
        extra={"workers": 1, "delivery": {"track": False}},
    )  # fmt: skip
    for n in range(FILES):  # each its own content: the duplicate window would hold copies back
        (staging / f"doc-{n:02d}.pdf").write_bytes(make_sample_pdf(text=f"document {n}"))
    daemon = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    daemons.append(daemon)
    for path in sorted(staging.iterdir()):
        path.rename(hot / path.name)
    wait_for(lambda: len(documents(hot / "sent")) == FILES, timeout=120, what="every document filed")
    daemon.stop()
    with sqlite3.connect(journal_path(tmp_path / "state")) as db:
        batches = [n for (n,) in db.execute("SELECT COUNT(*) FROM jobs GROUP BY created_at ORDER BY created_at")]
    assert sum(batches) == FILES
    # The first claim fills the pool (4); after it, no batch is smaller than half the pool but the backlog's tail.
    assert all(n >= 2 for n in batches[1:-1]), batches
    assert len(batches) <= 2 + (FILES - 4) // 2, batches
