"""End to end: numbers written the human way in file names, through the real daemon to the emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from daemonkit import DaemonProcess, documents, drop, ledger, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf

FOLDER_TO = "+99999990"


def test_human_numbers_route_and_an_unreadable_marker_is_rejected(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": FOLDER_TO}])
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    drop(hot, "+1 212 555 0100 invoice.pdf", make_sample_pdf(text="spaces"))
    drop(hot, "(212) 555-0199 memo.pdf", make_sample_pdf(text="parentheses"))
    drop(hot, "fax=abc memo.pdf", make_sample_pdf(text="abc"))
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="two faxes delivered")
    wait_for(lambda: len(receipts(hot / "failed")) == 1, 60, what="fax=abc rejected")
    sent = {r["file"]: r["to"] for r in receipts(hot / "sent")}
    assert sent == {"+1 212 555 0100 invoice.pdf": ["+12125550100"], "(212) 555-0199 memo.pdf": ["+12125550199"]}
    [failed] = receipts(hot / "failed")
    assert failed["file"] == "fax=abc memo.pdf" and failed["outcome"] == "rejected"
    assert "file name says fax=abc, which is not a fax number" in failed["reason"]
    assert [p.name for p in documents(hot / "failed")] == ["fax=abc memo.pdf"]
    submitted = sorted(n for s in ledger(emulator)["submissions"] for n in s["numbers"])
    assert submitted == ["+12125550100", "+12125550199"]  # never the folder's number, never fax=abc
    assert d.stop() == 0
