"""The real daemon against the emulator: documents whose content is not complete yet wait (issue #13).

Sequencing without sleeps: after writing the first part of a document, a complete marker document is
dropped; the watcher reports stable files oldest first, so once the marker has been claimed (gone from the
hot folder) the older, unchanged partial would have been claimed in the same pass or before — unless the
content rule holds it. Only then is the rest written.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from daemonkit import PASSWORD, DaemonProcess, drop, ledger, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf


def start(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], **defaults: Any) -> tuple[Path, Path]:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}], defaults=defaults)
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    return hot, cfg


def pass_marker(hot: Path, n: int) -> None:
    """Drop a complete document and wait until the daemon claimed it (see the module docstring)."""
    marker = drop(hot, f"marker{n}.pdf", make_sample_pdf(pages=1, text=f"marker {n}"))
    wait_for(lambda: not marker.exists(), 30, what=f"marker{n}.pdf claimed")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_pdf_written_in_two_halves_with_a_long_pause_is_delivered_once(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot, _cfg = start(tmp_path, emulator, daemons, stable_seconds=0.5, incomplete_grace="5m")
    pdf = make_sample_pdf(pages=3, text="two halves", pad_to=200_000)
    target = hot / "scan.pdf"
    with target.open("wb") as f:
        f.write(pdf[: len(pdf) // 2])
    pass_marker(hot, 1)
    assert target.exists(), "the partial was claimed"
    assert receipts(hot / "failed") == []
    with target.open("ab") as f:
        f.write(pdf[len(pdf) // 2 :])
    wait_for(lambda: any(r["file"] == "scan.pdf" for r in receipts(hot / "sent") + receipts(hot / "failed")), 60)
    [r] = [r for r in receipts(hot / "sent") if r["file"] == "scan.pdf"]
    assert r["size"] == len(pdf) and r["pages"] == 3
    assert [s["sha256"] for s in ledger(emulator)["submissions"]].count(sha(pdf)) == 1
    assert receipts(hot / "failed") == []


def test_preallocated_file_filled_later_is_delivered_with_its_full_content(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot, _cfg = start(tmp_path, emulator, daemons, stable_seconds=0.5, incomplete_grace="5m")
    pdf = make_sample_pdf(pages=2, text="pre-allocated", pad_to=100_000)
    target = hot / "copy.pdf"
    with target.open("wb") as f:
        f.write(pdf[:4096])
        f.truncate(len(pdf))  # final size at once, the tail zeros until written (a Windows copy over SMB)
    pass_marker(hot, 1)
    assert target.exists(), "the pre-allocated file was claimed"
    with target.open("r+b") as f:
        f.seek(4096)
        f.write(pdf[4096:])
    wait_for(lambda: any(r["file"] == "copy.pdf" for r in receipts(hot / "sent") + receipts(hot / "failed")), 60)
    [r] = [r for r in receipts(hot / "sent") if r["file"] == "copy.pdf"]
    assert r["size"] == len(pdf)
    assert [s["sha256"] for s in ledger(emulator)["submissions"]].count(sha(pdf)) == 1


def explain(cfg: Path, file: Path) -> str:
    env = {**os.environ, "FAXDROPD_TEST_PASSWORD": PASSWORD}
    run = subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(cfg), "explain", str(file)],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    return run.stdout + run.stderr


def test_empty_file_waits_then_fails_as_empty_and_explain_agrees(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot, cfg = start(tmp_path, emulator, daemons, stable_seconds=0.5, incomplete_grace="3s")
    placeholder = hot / "placeholder.pdf"
    placeholder.touch()
    assert "waiting:     content incomplete (empty file); will be checked until" in explain(cfg, placeholder)
    wait_for(lambda: receipts(hot / "failed"), 60, what="a receipt in failed/")
    [r] = receipts(hot / "failed")
    assert r["file"] == "placeholder.pdf" and "empty file" in r["reason"]
    assert (hot / "failed" / "placeholder.pdf").stat().st_size == 0
    assert daemons[-1].stop() == 0  # so the daemon does not claim the next file while explain looks at it
    late = hot / "late.pdf"
    late.touch()
    os.utime(late, (0, 0))
    assert "REJECTED — empty file" in explain(cfg, late)
