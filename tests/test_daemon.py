"""The real daemon as a subprocess, against the emulator, on real folders."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, DaemonProcess, documents, drop, ledger, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf


def start(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], folders: list[dict[str, Any]] | None = None, **kw: Any
) -> tuple[DaemonProcess, Path]:
    hot = tmp_path / "hot"
    hot.mkdir(exist_ok=True)
    cfg = write_config(tmp_path, emulator.url, folders or [{"path": str(hot), "to": "+99999990"}], **kw)
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    return d, hot


def test_small_and_5mb_pdfs_are_delivered_once(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    d, hot = start(tmp_path, emulator, daemons)
    small = make_sample_pdf(pages=2, text="small")
    big = make_sample_pdf(pages=3, text="big", pad_to=5 * 1024 * 1024)
    drop(hot, "small.pdf", small)
    drop(hot, "big.pdf", big)
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="two receipts in sent/")
    by_file = {r["file"]: r for r in receipts(hot / "sent")}
    assert by_file["small.pdf"]["outcome"] == "delivered" and by_file["small.pdf"]["status"] == 0
    assert by_file["small.pdf"]["pages"] == 2 and by_file["big.pdf"]["pages"] == 3
    assert by_file["big.pdf"]["size"] == len(big)
    for r in by_file.values():
        assert r["to"] == ["+99999990"] and r["transaction_ids"] and r["reference"]
        for key in (
            "job_id",
            "sha256",
            "folder",
            "attempts",
            "submitted_at",
            "completed_at",
            "pages_sent",
            "duration_s",
            "remote_csid",
            "cost",
            "reason",
        ):
            assert key in r
    subs = ledger(emulator)["submissions"]
    assert sorted(s["job_id"] for s in subs) == sorted(r["reference"] for r in by_file.values())
    import hashlib

    assert {s["sha256"] for s in subs} == {hashlib.sha256(small).hexdigest(), hashlib.sha256(big).hexdigest()}
    assert [s for s in subs if s["session_id"]], "the 5 MB document must go through a chunked upload"
    assert sorted(p.name for p in documents(hot / "sent")) == ["big.pdf", "small.pdf"]
    assert list((hot / ".faxdropd").rglob("*__*")) == []
    assert d.stop() == 0


def test_slow_writer_is_sent_once_complete(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    _d, hot = start(tmp_path, emulator, daemons, defaults={"stable_seconds": 1.5})
    pdf = make_sample_pdf(pages=1, text="slow", pad_to=300_000)
    with (hot / "slow.pdf").open("wb") as f:
        for i in range(0, len(pdf), len(pdf) // 6 + 1):
            f.write(pdf[i : i + len(pdf) // 6 + 1])
            f.flush()
            time.sleep(0.5)  # the slow writer under test: the pauses are the behaviour, not a wait
    wait_for(lambda: receipts(hot / "sent") or receipts(hot / "failed"), 60, what="a receipt")
    [r] = receipts(hot / "sent")
    assert r["size"] == len(pdf)
    [sub] = ledger(emulator)["submissions"]
    import hashlib

    assert sub["sha256"] == hashlib.sha256(pdf).hexdigest()


def test_hostile_inputs_are_rejected_and_the_daemon_stays_up(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    d, hot = start(tmp_path, emulator, daemons)
    canary = tmp_path / "canary-secret.pdf"
    canary.write_bytes(make_sample_pdf(text="CANARY"))
    (hot / "link.pdf").symlink_to(canary)
    os.mkfifo(hot / "pipe.pdf")
    (hot / "fake.pdf").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (hot / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    hard_src = tmp_path / "outside.pdf"
    hard_src.write_bytes(make_sample_pdf(text="hardlink"))
    os.link(hard_src, hot / "hard.pdf")
    (hot / "bad\nname.txt").write_bytes(b"hello")  # odd name, valid content: must still work
    (hot / "nonumber.exe").write_bytes(b"MZ" + bytes(100))  # not included: stays put
    wait_for(lambda: len(receipts(hot / "failed")) >= 5, 60, what="five rejections")
    wait_for(lambda: len(receipts(hot / "sent")) == 1, 60, what="the odd name delivered")
    reasons = {r["file"]: r["reason"] for r in receipts(hot / "failed")}
    assert set(reasons) == {"link.pdf", "pipe.pdf", "fake.pdf", "broken.pdf", "hard.pdf"}
    assert all(r["outcome"] == "rejected" for r in receipts(hot / "failed"))
    import hashlib

    canary_sha = hashlib.sha256(canary.read_bytes()).hexdigest()
    assert all(s["sha256"] != canary_sha for s in ledger(emulator)["submissions"])
    assert (hot / "nonumber.exe").exists()
    assert d.proc is not None and d.proc.poll() is None


@pytest.mark.parametrize("point", ["uploading", "submitting"])
def test_sigkill_during_upload_or_submission(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], point: str
) -> None:
    d, hot = start(tmp_path, emulator, daemons)
    crash = {"uploading": "after_uploading", "submitting": "after_send"}[point]
    d.stop()
    d.start(extra_env={"FAXDROPD_CRASH_AT": crash})
    drop(hot, "doc.pdf", make_sample_pdf(pages=1, text=point, pad_to=400_000))
    wait_for(lambda: d.proc is not None and d.proc.poll() is not None, 30, what="the crash")
    assert d.proc is not None and d.proc.returncode == -signal.SIGKILL
    d.start()
    wait_for(lambda: len(receipts(hot / "sent")) + len(receipts(hot / "failed")) == 1, 60, what="filing")
    assert len(ledger(emulator)["submissions"]) <= 1
    assert len(documents(hot / "sent")) + len(documents(hot / "failed")) == 1
    assert list((hot / ".faxdropd").rglob("*__*")) == []


def test_two_daemons_on_one_folder_send_each_file_once(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    configs = []
    for n in (1, 2):
        sub = tmp_path / f"d{n}"
        sub.mkdir()
        configs.append(
            write_config(
                sub,
                emulator.url,
                [{"path": str(hot), "to": "+99999990"}],
                extra={"limits": {"duplicate_window": 0}, "delivery": {"track": False}},
            )
        )
    for n, cfg in enumerate(configs):
        d = DaemonProcess(cfg, tmp_path / f"d{n}.log")
        daemons.append(d)
        d.start()
    for i in range(100):
        drop(hot, f"f{i:03}.txt", f"document {i}\n".encode())
    wait_for(lambda: len(receipts(hot / "sent")) == 100, 120, what="100 receipts")
    refs = [s["job_id"] for s in ledger(emulator)["submissions"]]
    assert len(refs) == 100 == len(set(refs))
    assert len({r["file"] for r in receipts(hot / "sent")}) == 100


def test_thousand_files_all_arrive(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    for i in range(1000):
        (hot / f"doc{i:04}.txt").write_bytes(f"fax number {i}\n".encode())
    _d, _ = start(tmp_path, emulator, daemons, extra={"delivery": {"track": False}, "limits": {"faxes_per_hour": None}})
    wait_for(lambda: len(receipts(hot / "sent")) == 1000, 240, interval=1.0, what="1000 receipts")
    assert len(ledger(emulator)["submissions"]) == 1000
    assert all(r["outcome"] == "accepted" for r in receipts(hot / "sent"))


def test_password_in_no_log_line(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    d, hot = start(tmp_path, emulator, daemons, extra={"log": {"format": "json", "level": "debug"}})
    drop(hot, "a.pdf", make_sample_pdf(text="log scan", pad_to=400_000))
    wait_for(lambda: receipts(hot / "sent"), 60, what="delivery")
    d.stop()
    text = d.log_text()
    assert "job.submitted" in text and "job.delivered" in text
    assert PASSWORD not in text
    import base64

    assert base64.b64encode(PASSWORD.encode()).decode() not in text
    for line in text.splitlines():
        json.loads(line)
