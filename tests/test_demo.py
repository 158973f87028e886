"""`faxdropd demo` run as a newcomer would: the console script, in an empty directory, nothing configured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from daemonkit import documents


def _demo(cwd: Path, duration: int) -> subprocess.CompletedProcess[str]:
    script = shutil.which("faxdropd")
    command = [script] if script else [sys.executable, "-m", "faxdropd"]
    # A newcomer's environment: no config pointed at, not under systemd.
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "FAXDROPD_CONFIG",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "INVOCATION_ID",
            "JOURNAL_STREAM",
            "FAXDROPD_DEMO_PASSWORD",
        )
    }
    return subprocess.run(
        [*command, "demo", "--duration", str(duration)],
        cwd=cwd,
        env=env,
        text=True,
        capture_output=True,
        timeout=duration + 60,
    )


def test_demo_sends_the_sample_to_sent_with_its_receipt_and_runs_again(tmp_path: Path) -> None:
    first = _demo(tmp_path, 20)
    assert first.returncode == 0, first.stderr[-3000:]
    demo = tmp_path / "faxdropd-demo"  # the default --dir, relative to where the user stands
    sent = demo / "inbox" / "sent"
    assert [p.name for p in documents(sent)] == ["sample-invoice.pdf"], first.stderr[-3000:]
    receipt = json.loads((sent / "sample-invoice.pdf.receipt.json").read_text())
    assert receipt["outcome"] == "delivered" and receipt["status"] == 0 and receipt["pages"] == 2
    assert receipt["to"] == ["+99999990"] and receipt["transaction_ids"]
    out = first.stderr
    # Readable progress: what was dropped, each step of the job, where it was filed.
    for text in ("dropped", "job.claimed", "job.submitted", "job.delivered", "filed", str(sent), "daemon.stopped"):
        assert text in out, text
    assert "Traceback" not in out and "***" not in out  # no path mangled by secret masking
    assert not documents(demo / "inbox" / "failed")

    # A second run in the same place sends a fresh sample (not refused as a duplicate of the first).
    second = _demo(tmp_path, 20)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(documents(sent)) == 2, second.stderr[-3000:]
    assert not documents(demo / "inbox" / "failed")
