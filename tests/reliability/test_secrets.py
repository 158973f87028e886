"""T13: secrets never reach an artefact. One daemon run with DEBUG logging exercises a success, a chunked
upload, a rejection, a failed delivery policy check and an authentication failure (a wrong password → -1003);
then every log line, receipt, journal row (all tables) and the raw bytes of every file the daemon wrote are
scanned for each password used, in clear and base64 (standard and urlsafe, alone and as `user:password`).
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, DaemonProcess, drop, receipts, wait_for
from kit.secrets import files_under, needles, scan

from faxdropd.document.sample import make_sample_pdf
from reliability.rig import debug_config

pytestmark = pytest.mark.reliability

USERNAME = "demo"


def journal_dump(state: Path) -> list[str]:
    """Every value of every row of every table, as text."""
    db = sqlite3.connect(f"file:{state / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = []
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # names from sqlite_master
                rows.append(" | ".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in row))
        return rows
    finally:
        db.close()


def phase(root: Path, emulator: Any, daemons: list[DaemonProcess], password: str) -> tuple[DaemonProcess, Path]:
    cfg, hot = debug_config(root, emulator.url)
    d = DaemonProcess(cfg, root / "daemon.log", env={"FAXDROPD_TEST_PASSWORD": password})
    daemons.append(d)
    d.start()
    return d, hot


def test_no_secret_in_any_artefact(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    wrong = f"Wr0ng-{uuid.uuid4().hex}"
    # Phase 1: the right password. Success (inline), success (chunked), a rejection, a number not allowed.
    d, hot = phase(tmp_path / "right", emulator, daemons, PASSWORD)
    drop(hot, "small.pdf", make_sample_pdf(text="small"))
    drop(hot, "big.pdf", make_sample_pdf(text="chunked", pad_to=300_000))
    drop(hot, "fake.pdf", b"\x89PNG\r\n\x1a\n" + bytes(64))
    drop(hot, "+33123456789 premium.pdf", make_sample_pdf(text="not allowed"))
    wait_for(
        lambda: len(receipts(hot / "sent")) == 2 and len(receipts(hot / "failed")) == 2, 90, what="two sent, two failed"
    )
    assert d.stop() == 0
    subs = emulator.emulator.ledger()["submissions"]
    assert any(s["session_id"] for s in subs), "the big document must have gone through a chunked upload"
    # Phase 2: a wrong password: -1003 pauses sending account-wide.
    d2, hot2 = phase(tmp_path / "wrong", emulator, daemons, wrong)
    drop(hot2, "doc.pdf", make_sample_pdf(text="auth"))
    paused = wait_for(
        lambda: [e for e in d2.events() if e.get("event") == "account.paused"], 60, what="account.paused after -1003"
    )
    assert "-1003" in paused[0]["reason"]
    assert d2.stop() == 0
    assert any(e.get("level") == "debug" for e in d.events()), "DEBUG logging was not on"

    texts = files_under(tmp_path / "right", tmp_path / "wrong")  # logs, receipts, journal + WAL
    for root in (tmp_path / "right", tmp_path / "wrong"):
        texts[f"{root.name}/journal rows"] = "\n".join(journal_dump(root / "state")).encode()
    assert any(name.endswith(".receipt.json") for name in texts) and any("journal" in n for n in texts)
    hits = scan(texts, [PASSWORD, wrong], USERNAME)
    counted = len(needles(PASSWORD, USERNAME)) + len(needles(wrong, USERNAME))
    print(f"secret scan: {len(texts)} artefacts, {counted} needles, {len(hits)} hits")
    assert hits == []
