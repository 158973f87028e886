"""Routing and policy through the real daemon: what the emulator's ledger receives, and what is held back.

Every assertion about options is made on the emulator's ledger (what arrived over SOAP), never on mocks.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from daemonkit import PASSWORD, DaemonProcess, documents, drop, receipts, wait_for, write_config
from kit.sdnotify import NotifySocket

from faxdropd.document.sample import make_sample_pdf
from faxdropd.jobs.journal import Journal, State

NO_TRACK = {"delivery": {"track": False}}


def ledger(emulator: Any) -> list[dict[str, Any]]:
    r = requests.get(emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=5)
    subs: list[dict[str, Any]] = r.json()["submissions"]
    return subs


def start(
    tmp_path: Path,
    emulator: Any,
    daemons: list[DaemonProcess],
    folders: list[dict[str, Any]],
    env: dict[str, str] | None = None,
    **kw: Any,
) -> tuple[DaemonProcess, Path]:
    cfg = write_config(tmp_path, emulator.url, folders, **kw)
    d = DaemonProcess(cfg, tmp_path / "daemon.log", env=env)
    daemons.append(d)
    d.start()
    return d, cfg


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FAXDROPD_TEST_PASSWORD": PASSWORD},
    )


def status(cfg: Path) -> dict[str, Any]:
    out = cli(cfg, "status", "--json")
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def iso_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- every fax option, a sidecar's overrides, and a sidecar that tries to escape ------------------------


def test_every_fax_option_reaches_the_emulator_and_a_sidecar_overrides_some(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "accounts"
    (hot / "covers").mkdir(parents=True)  # a sub-folder: the watcher never faxes it on its own
    cover = tmp_path / "cover.txt"  # an admin's cover page outside the hot folder, named by absolute path
    cover.write_bytes(b"COVER SHEET\nfrom the accounts team\n")
    side_cover = make_sample_pdf(pages=1, text="sidecar cover")
    (hot / "covers" / "urgent.pdf").write_bytes(side_cover)
    # A send window that is closed now and opens in two hours, every day, in UTC.
    opening = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    window = f"Mon-Sun {opening:%H:%M}-{opening + timedelta(hours=1):%H:%M} UTC"
    template = "{name}|{stem}|{folder}|{date} plus text to cut"
    fax = {
        "csid": "ACME ACCOUNTS",
        "page_header": "To: {To} From: {From}",
        "subject": template,
        "contact": "Jane Doe",
        "reply_address": "ops@example.com",
        "page_size": "Legal",
        "orientation": "landscape",
        "resolution": "fine",
        "rendering": "fine",
        "retries": 7,
        "cover_page": str(cover),
        "send_window": window,
    }
    _d, _cfg = start(
        tmp_path, emulator, daemons, [{"path": str(hot), "to": ["+99999990", "+99999991"], "fax": fax}], extra=NO_TRACK
    )

    doc = make_sample_pdf(pages=2, text="invoice 42")
    drop(hot, "inv.pdf", doc)
    other = make_sample_pdf(pages=1, text="urgent")
    sidecar = {
        "to": "+99999995",
        "fax": {
            "csid": "SIDE",
            "page_size": "Letter",
            "resolution": "standard",
            "contact": "Bob",
            "subject": "{stem}",
            "send_window": None,
            "cover_page": "covers/urgent.pdf",
        },
    }
    drop(hot, "urgent.pdf.fax.yaml", yaml.safe_dump(sidecar).encode())
    drop(hot, "urgent.pdf", other)
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="two receipts in sent/")
    by_file = {r["file"]: r for r in receipts(hot / "sent")}
    subs = {s["job_id"]: s for s in ledger(emulator)}
    assert len(subs) == 2

    folder_sub = subs[by_file["inv.pdf"]["reference"]]
    assert folder_sub["numbers"] == ["+99999990", "+99999991"]  # the folder's broadcast, in order
    assert folder_sub["contacts"] == ["Jane Doe", "Jane Doe"]  # one per number, as InterFAX pairs them
    assert folder_sub["options"] == {
        "Postpone": folder_sub["options"]["Postpone"],
        "RetriesToPerform": 7,
        "CSID": "ACME ACCOUNTS",
        "PageHeader": "To: {To} From: {From}",
        "ReplyAddress": "ops@example.com",
        "PageSize": "Legal",
        "PageOrientation": "Landscape",
        "IsHighResolution": True,
        "IsFineRendering": True,
    }
    assert iso_time(folder_sub["options"]["Postpone"]) == opening  # the window's next opening, in UTC
    # The cover page is the fax's first document, then the document itself.
    assert folder_sub["file_types"] == ["TXT", "PDF"]
    assert folder_sub["document_sha256"] == [sha(cover.read_bytes()), sha(doc)]
    reference = folder_sub["job_id"]
    subject = folder_sub["reference"]  # the ledger's "reference" is the Subject InterFAX received
    # The template is cut so that " [<reference>]" still fits in InterFAX's 60 characters, never the reference.
    tail = f" [{reference}]"
    expected = {
        f"inv.pdf|inv|accounts|{d:%Y-%m-%d} plus text to cut"[: 60 - len(tail)].rstrip() + tail
        for d in (datetime.now(UTC), datetime.now(UTC) - timedelta(minutes=5))
    }
    assert subject in expected and len(subject) <= 60, subject

    side_sub = subs[by_file["urgent.pdf"]["reference"]]
    assert side_sub["numbers"] == ["+99999995"] and side_sub["contacts"] == ["Bob"]
    assert side_sub["reference"] == f"urgent [{side_sub['job_id']}]"
    opts = side_sub["options"]
    assert (opts["CSID"], opts["PageSize"], opts["IsHighResolution"]) == ("SIDE", "Letter", False)
    assert iso_time(opts["Postpone"]) == datetime(2001, 12, 31, tzinfo=UTC)  # no window: as soon as possible
    # Not overridden: still the folder's.
    assert (opts["RetriesToPerform"], opts["PageOrientation"], opts["IsFineRendering"], opts["ReplyAddress"]) == (
        7,
        "Landscape",
        True,
        "ops@example.com",
    )
    assert side_sub["file_types"] == ["PDF", "PDF"]
    assert side_sub["document_sha256"] == [sha(side_cover), sha(other)]
    # The sidecar is filed beside its document; the cover pages stay where they were.
    assert (hot / "sent" / "urgent.pdf.fax.yaml").read_bytes() == yaml.safe_dump(sidecar).encode()
    assert [p.name for p in documents(hot / "sent")] == ["inv.pdf", "urgent.pdf"]
    assert (hot / "covers" / "urgent.pdf").exists() and cover.exists()
    assert by_file["urgent.pdf"]["to"] == ["+99999995"]
    assert not (hot / "failed").exists() or documents(hot / "failed") == []


def test_sidecar_cover_page_outside_the_folder_is_rejected(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    (tmp_path / "secret.pdf").write_bytes(make_sample_pdf(text="SECRET"))
    (hot / "covers").symlink_to(tmp_path)  # a link inside the folder leading out of it
    start(tmp_path, emulator, daemons, [{"path": str(hot), "to": "+99999990"}], extra=NO_TRACK)
    for n, escape in enumerate(["../secret.pdf", str(tmp_path / "secret.pdf"), "covers/secret.pdf"]):
        drop(hot, f"d{n}.pdf.fax.yaml", yaml.safe_dump({"fax": {"cover_page": escape}}).encode())
        drop(hot, f"d{n}.pdf", make_sample_pdf(text=f"doc {n}"))
    wait_for(lambda: len(receipts(hot / "failed")) == 3, 60, what="three rejections")
    for r in receipts(hot / "failed"):
        assert r["outcome"] == "rejected"
        assert "cover_page" in r["reason"] and "outside the hot folder" in r["reason"], r["reason"]
    assert sorted(p.name for p in (hot / "failed").glob("*.fax.yaml")) == [f"d{n}.pdf.fax.yaml" for n in range(3)]
    assert ledger(emulator) == []


def test_an_upper_case_sidecar_routes_and_a_duplicate_key_sidecar_is_rejected(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    start(tmp_path, emulator, daemons, [{"path": str(hot), "to": "+99999990"}], extra=NO_TRACK)
    # Windows users type the suffix in any case: it is still this document's sidecar, never a fax of its own.
    drop(hot, "upper.pdf.FAX.YAML", b"to: '+99999995'\n")
    drop(hot, "upper.pdf", make_sample_pdf(text="upper"))
    # `to:` twice must not mean "the last one wins": the document is held with the reason.
    drop(hot, "twice.pdf.fax.yaml", b"to: '+99999995'\nto: '+99999996'\n")
    drop(hot, "twice.pdf", make_sample_pdf(text="twice"))
    wait_for(lambda: receipts(hot / "sent") and receipts(hot / "failed"), 60, what="one sent, one rejected")
    [sub] = ledger(emulator)
    assert sub["numbers"] == ["+99999995"]
    [held] = receipts(hot / "failed")
    assert (held["file"], held["outcome"]) == ("twice.pdf", "rejected")
    assert "twice.pdf.fax.yaml" in held["reason"] and "duplicate key 'to'" in held["reason"], held["reason"]
    assert (hot / "failed" / "twice.pdf.fax.yaml").exists()
    assert [p.name for p in documents(hot / "sent")] == ["upper.pdf"]


# --- the hourly cap ------------------------------------------------------------------------------------


def test_hourly_cap_sends_ten_of_a_burst_of_fifty_and_holds_the_rest(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], notify: NotifySocket
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    for i in range(50):  # already there at start: the whole burst is ready at once
        (hot / f"burst{i:02}.txt").write_bytes(f"burst document {i}\n".encode())
    _d, cfg = start(
        tmp_path,
        emulator,
        daemons,
        [{"path": str(hot), "to": "+99999990"}],
        extra={**NO_TRACK, "limits": {"faxes_per_hour": 10}},
        env={"NOTIFY_SOCKET": notify.path},
    )
    wait_for(lambda: status(cfg)["states"].get("deferred") == 40, 90, interval=0.5, what="40 deferred")
    notify.wait_reports(4)  # full main-loop passes, a refile pass among them: nothing more may go out
    assert len(ledger(emulator)) == 10
    assert len(receipts(hot / "sent")) == 10
    assert status(cfg)["states"] == {"delivered": 10, "deferred": 40}
    assert not (hot / "failed").exists() or documents(hot / "failed") == []
    journal = Journal(tmp_path / "state", read_only=True)
    try:
        held = journal.by_state(State.DEFERRED)
        first = min(j.submitted_at or 0 for j in journal.by_state(State.DELIVERED))
    finally:
        journal.close()
    assert len(held) == 40 and all(j.reason == "held back by limits.faxes_per_hour" for j in held)
    # Held until the oldest send leaves the hour, not dropped: every document is still in the work area.
    assert all(j.next_attempt_at is not None and j.next_attempt_at >= first + 3600 - 1 for j in held)
    assert all(Path(j.work_path).exists() for j in held)


def test_folder_cap_holds_only_its_folder_and_a_long_hold_is_never_quarantined(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    capped, free = tmp_path / "capped", tmp_path / "free"
    capped.mkdir()
    free.mkdir()
    for i in range(6):
        (capped / f"c{i}.txt").write_bytes(f"capped {i}\n".encode())
    for i in range(4):
        (free / f"f{i}.txt").write_bytes(f"free {i}\n".encode())
    _d, cfg = start(
        tmp_path,
        emulator,
        daemons,
        [{"path": str(capped), "to": "+99999990", "faxes_per_hour": 3}, {"path": str(free), "to": "+99999990"}],
        extra={**NO_TRACK, "limits": {"faxes_per_hour": None}},
    )
    wait_for(
        lambda: len(receipts(free / "sent")) == 4 and status(cfg)["states"].get("deferred") == 3,
        60,
        interval=0.5,
        what="free folder sent, capped folder held",
    )
    assert len(receipts(capped / "sent")) == 3
    db = tmp_path / "state" / "journal.sqlite3"
    # Make the scheduler take the held jobs again and again, as hours passing with the cap still reached
    # would; each pass counts as a processing start, which must not turn into a crash quarantine.
    for _ in range(5):
        with closing(sqlite3.connect(db, timeout=30)) as conn, conn:
            conn.execute("UPDATE jobs SET next_attempt_at = 0 WHERE state = 'deferred'")
        wait_for(lambda: _all_held_again(db), 30, interval=0.3, what="the held jobs deferred again")
    assert len(ledger(emulator)) == 7
    assert status(cfg)["states"] == {"delivered": 7, "deferred": 3}
    assert not (capped / "failed").exists() or documents(capped / "failed") == []


def _all_held_again(db: Path) -> bool:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as conn:
        rows = conn.execute(
            "SELECT state, next_attempt_at FROM jobs WHERE folder = 'capped' AND state NOT IN ('delivered')"
        ).fetchall()
    return len(rows) == 3 and all(state == "deferred" and (when or 0) > time.time() for state, when in rows)


# --- the duplicate window and retrying on purpose ------------------------------------------------------


def test_duplicate_is_held_then_retry_sends_it_on_purpose_once(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    d, cfg = start(tmp_path, emulator, daemons, [{"path": str(hot), "to": "+99999990"}], extra=NO_TRACK)
    pdf = make_sample_pdf(pages=1, text="the contract")
    drop(hot, "contract.pdf", pdf)
    wait_for(lambda: len(receipts(hot / "sent")) == 1, 60, what="first copy sent")
    drop(hot, "contract.pdf", pdf)
    wait_for(lambda: len(receipts(hot / "failed")) == 1, 60, what="second copy held")
    [held] = receipts(hot / "failed")
    assert (held["outcome"], held["reason"], held["sha256"], held["to"]) == (
        "failed",
        "duplicate",
        sha(pdf),
        ["+99999990"],
    )
    assert len(ledger(emulator)) == 1

    out = cli(cfg, "retry", str(hot / "failed" / "contract.pdf"))
    assert out.returncode == 0, out.stderr
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="the retried copy sent")
    subs = ledger(emulator)
    assert len(subs) == 2 and all(s["document_sha256"] == [sha(pdf)] for s in subs)
    assert documents(hot / "failed") == []
    consumed = list((hot / ".faxdropd" / "retried" / "consumed").iterdir())
    assert len(consumed) == 1 and json.loads(consumed[0].read_text())["reason"] == "duplicate"

    # The retry authorised one send: a plain re-drop afterwards is a duplicate again.
    drop(hot, "contract.pdf", pdf)
    wait_for(lambda: len(receipts(hot / "failed")) == 1, 60, what="third copy held")
    assert receipts(hot / "failed")[0]["reason"] == "duplicate"
    # Copies dropped at the same moment: while the first is still uploading (3 MB: a chunked upload), the
    # others must see it, and the workers must not both pass the check.
    other = make_sample_pdf(pages=1, text="the other contract", pad_to=3_000_000)
    for n in range(3):
        drop(hot, f"twin{n}.pdf", other)
    wait_for(lambda: len(receipts(hot / "failed")) == 3, 60, what="two twins held")
    # The third twin filed too: every copy is final, so no send can still be on its way.
    wait_for(lambda: len(receipts(hot / "sent")) == 3, 60, what="one twin sent")
    assert [s["document_sha256"] for s in ledger(emulator)].count([sha(other)]) == 1
    assert len(ledger(emulator)) == 3
    d.stop()

    journal = Journal(tmp_path / "state", read_only=True)
    try:
        jobs = journal.by_state(*State)
    finally:
        journal.close()
    assert sorted(j.on_purpose for j in jobs if j.sha256 == sha(pdf)) == [0, 0, 0, 1]

    # explain (daemon stopped, nothing changes): the same content again is reported as a duplicate.
    drop(hot, "again.pdf", pdf)
    out = cli(cfg, "explain", str(hot / "again.pdf"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "duplicate:   YES" in out.stdout and "hourly cap:" in out.stdout
    assert (hot / "again.pdf").exists()


def test_explain_shows_routing_every_option_and_policy(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    (hot / "covers").mkdir(parents=True)
    (hot / "covers" / "c.txt").write_bytes(b"cover\n")
    cfg = write_config(
        tmp_path,
        "http://127.0.0.1:9/dfs.asmx",
        [
            {
                "path": str(hot),
                "to": "+99999990",
                "deny": ["+1900*"],
                "faxes_per_hour": 5,
                "fax": {"csid": "ACME", "retries": 2, "send_window": "Mon-Sun 00:00-24:00 UTC"},
            }
        ],
    )
    drop(hot, "+12125550100 memo.pdf", make_sample_pdf(text="memo"))
    drop(hot, "x.pdf.fax.yaml", b"to: '+1 900 234 5678'\n")
    drop(hot, "x.pdf", make_sample_pdf(text="x"))
    drop(hot, "y.pdf.fax.yaml", b"fax: {cover_page: covers/c.txt, page_size: Letter}\n")
    drop(hot, "y.pdf", make_sample_pdf(text="y"))

    out = cli(cfg, "explain", str(hot / "+12125550100 memo.pdf"))
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "destinations from filename: +12125550100" in text
    assert "'+12125550100' -> +12125550100: ok (+12125550100 is allowed by '+1*')" in text
    for line in (
        "CSID              ACME",
        "RetriesToPerform  2",
        "FaxNumbers        +12125550100",
        "PageSize          A4",
        "Subject           +12125550100 memo.pdf [fd-<job_id>]",
    ):
        assert line in text, line
    assert "send window: Mon-Sun 00:00-24:00 UTC — open now" in text
    assert "faxes_per_hour 120/hour, 5/hour for this folder" in text
    assert "journal:     none yet" in text

    out = cli(cfg, "explain", str(hot / "x.pdf"))
    assert out.returncode == 1 and "REJECTED" in out.stdout and "+1900*" in out.stdout

    out = cli(cfg, "explain", str(hot / "y.pdf"))
    assert out.returncode == 0, out.stdout
    assert "cover page:  " + str((hot / "covers" / "c.txt").resolve()) + " — TXT" in out.stdout
    assert "PageSize          Letter" in out.stdout and "sidecar:     y.pdf.fax.yaml" in out.stdout
    assert sorted(p.name for p in hot.iterdir()) == sorted(
        ["covers", "+12125550100 memo.pdf", "x.pdf", "x.pdf.fax.yaml", "y.pdf", "y.pdf.fax.yaml"]
    )
