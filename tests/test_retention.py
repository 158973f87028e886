"""Retention: 100,000 filed documents over 13 months, then the real daemon runs one pass; plus the rules
(crash order, month folders, config overrides, the journal's vacuum on an older journal) at unit level."""

from __future__ import annotations

import os
import socket
import sqlite3
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, drop, wait_for, write_config
from prometheus_client.parser import text_string_to_metric_families

from faxdropd.config import parse_config, render_routing_table
from faxdropd.document.sample import make_sample_pdf
from faxdropd.files import archive
from faxdropd.files.names import WORK_DIR
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.schema import SCHEMA, journal_path

DAY = 86400.0
SEEDED = int(os.environ.get("FAXDROPD_RETENTION_SEED", "100000"))
SPAN_DAYS = 395  # 13 months


def _seed_folder(hot: Path, dated: bool, count: int, now: float, offset: int) -> list[tuple[str, float, bool]]:
    """`count` filed documents with receipts, filing times spread evenly over 13 months; every fifth failed.

    Fast: every document is a hard link to one tiny file, and every receipt a hard link to the one receipt of
    its filing day (whose mtime is that day): one link() a file instead of open, write, close and utime.
    """
    seeded = []
    made: set[Path] = set()
    seeds = hot.parent / f".seeds-{hot.name}"
    seeds.mkdir()
    (seeds / "doc").write_bytes(b"%PDF")
    for i in range(count):
        day = i * SPAN_DAYS // count
        age = (day + 0.5) * DAY
        filed_at = now - age
        receipt_seed = seeds / f"receipt-{day}"
        if not receipt_seed.exists():
            receipt_seed.write_bytes(b"{}")
            os.utime(receipt_seed, (filed_at, filed_at))
        sent = (i + offset) % 5 != 0
        dest = hot / ("sent" if sent else "failed")
        if dated:
            dest = archive.month_dir(dest, filed_at)
        if dest not in made:
            dest.mkdir(parents=True, exist_ok=True)
            made.add(dest)
        name = f"doc{i:06d}.pdf"
        os.link(seeds / "doc", dest / name)
        os.link(receipt_seed, dest / f"{name}.receipt.json")
        seeded.append((str(dest / name), age, sent))
    return seeded


def _seed_journal(state: Path, ages: list[float], now: float) -> None:
    Journal(state).close()  # the schema, as the daemon creates it
    rows = []
    events = []
    for i, age in enumerate(ages):
        job_id = uuid.uuid4().hex[:16]
        at = now - age
        state_name = "failed" if i % 5 == 0 else "delivered"
        rows.append((job_id, f"ref{i}", "flat", "/h", f"doc{i}.pdf", "/w", state_name, at, at, at))
        events += [(job_id, at, None, "claimed", "created"), (job_id, at, "claimed", state_name, "filed")]
    db = sqlite3.connect(journal_path(state))
    with db:
        db.executemany(
            "INSERT INTO jobs (id, reference, folder, hot, name, work_path, state, created_at, updated_at, "
            "completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.executemany("INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)", events)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def _journal_bytes(state: Path) -> int:
    return sum(p.stat().st_size for p in state.glob("journal.sqlite3*"))


def _vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(key)


def _files(top: Path) -> list[Path]:
    """Every file under `top` but the daemon's own work area (its heartbeat lives there)."""
    return [Path(d) / f for d, _, files in os.walk(top) if WORK_DIR not in Path(d).parts for f in files]


def test_hundred_thousand_documents_over_thirteen_months(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    now = datetime.now(UTC).timestamp()
    flat, dated = tmp_path / "flat", tmp_path / "dated"
    flat.mkdir()
    dated.mkdir()
    half = SEEDED // 2
    seeded = _seed_folder(flat, False, half, now, 0) + _seed_folder(dated, True, SEEDED - half, now, 1)
    state = tmp_path / "state"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    job_ages = [(i + 0.5) * SPAN_DAYS * DAY / SEEDED for i in range(SEEDED)]
    _seed_journal(state, job_ages, now)
    journal_before = _journal_bytes(state)

    cfg = write_config(
        tmp_path,
        emulator.url,
        [
            {"path": str(flat), "to": "+99999990", "name": "flat"},
            {"path": str(dated), "to": "+99999990", "name": "dated", "retention": {"archive": "dated"}},
        ],
        # journal: 200d, but the duplicate window (250d) reads older jobs: those stay until 250 days.
        extra={
            "retention": {"sent": "90d", "failed": "365d", "journal": "200d"},
            "limits": {"duplicate_window": "250d"},
            "metrics": {"listen": f"127.0.0.1:{port}"},
        },
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    [done] = wait_for(lambda: [e for e in d.events() if e.get("event") == "retention.pass"], 120, what="a pass")

    # What is kept and what is deleted: exactly the documents filed within their folder's retention.
    def kept(age: float, sent: bool) -> bool:
        return age < (90 if sent else 365) * DAY

    expected_kept = {path for path, age, sent in seeded if kept(age, sent)}
    left = {str(p) for p in _files(flat) + _files(dated) if not p.name.endswith(".receipt.json")}
    receipts = {str(p)[: -len(".receipt.json")] for p in _files(flat) + _files(dated) if p.name.endswith(".json")}
    assert left == expected_kept  # nothing expired is left, nothing kept is gone
    assert receipts == left  # never a receipt without its document, nor a document without its receipt
    deleted = SEEDED - len(expected_kept)
    assert done["documents"] == deleted and done["receipts"] == deleted
    assert 0 < len(expected_kept) < SEEDED  # both kinds exist: the test is not vacuous
    scraped = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    counted_by_kind = {
        s.labels["kind"]: s.value
        for f in text_string_to_metric_families(scraped)
        if f.name == "faxdropd_retention_deleted"
        for s in f.samples
    }
    assert counted_by_kind == {"document": deleted, "receipt": deleted, "job": done["jobs"]}

    # Folder sizes stay bounded: flat folders hold only their retention's worth; dated ones a month a folder.
    per_month = SEEDED / 2 / 13
    assert {p.name for p in (dated / "sent").iterdir()} <= {
        datetime.fromtimestamp(now - a * DAY, UTC).strftime("%Y-%m") for a in range(0, 92)
    }
    assert all(len(list(m.iterdir())) <= 2 * 1.2 * per_month for m in (dated / "sent").iterdir())
    assert done["months"] > 0  # emptied month folders are removed

    # The journal: final jobs past max(journal, duplicate window) pruned with their events, the space returned.
    db = sqlite3.connect(f"file:{journal_path(state)}?mode=ro", uri=True)
    jobs = db.execute("SELECT COUNT(*), MIN(created_at) FROM jobs").fetchone()
    events = db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    free = db.execute("PRAGMA freelist_count").fetchone()[0]
    db.close()
    assert jobs[0] == sum(a < 250 * DAY for a in job_ages) == SEEDED - done["jobs"]
    assert now - jobs[1] < 250 * DAY and now - jobs[1] > 200 * DAY  # inside the window: kept past journal:
    assert events == 2 * jobs[0]
    assert free == 0  # incremental vacuum gave every freed page back
    assert _journal_bytes(state) < journal_before * (1 - 0.8 * done["jobs"] / SEEDED)  # shrank with what went

    # Memory: the pass streams directories and batches the journal; peak RSS stays that of a small daemon.
    assert d.proc is not None
    peak = _vm(d.proc.pid, "VmHWM")
    print(
        f"retention pass over {SEEDED} documents: {done['seconds']} s, {deleted} deleted, {done['jobs']} jobs pruned, "
        f"journal {journal_before} -> {_journal_bytes(state)} bytes, daemon peak RSS {peak / 2**20:.0f} MiB"
    )
    assert peak < 128 * 1024 * 1024  # a daemon at rest is about 80 MiB

    # archive: dated files a new fax into this month's folder, receipt beside it.
    drop(dated, "new.pdf", make_sample_pdf(text="filed by month"))
    month = dated / "sent" / datetime.now(UTC).strftime("%Y-%m")
    wait_for(lambda: (month / "new.pdf.receipt.json").exists(), 60, what="new.pdf filed by month")
    assert (month / "new.pdf").exists() and not (dated / "sent" / "new.pdf").exists()
    assert d.stop() == 0
    counted = Counter(e["event"] for e in d.events())
    assert counted["retention.pass"] == 1 and not counted["retention.failed"]


# -- unit level -------------------------------------------------------------------------------------------------


def _filed(dest: Path, name: str, age: float, *, sidecar: bool = False) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    doc = dest / name
    doc.write_bytes(b"x")
    if sidecar:
        (dest / f"{name}.fax.yaml").write_text("to: '+1'\n")
    receipt = dest / f"{name}.receipt.json"
    receipt.write_text("{}")
    at = datetime.now(UTC).timestamp() - age
    os.utime(receipt, (at, at))
    return doc


def test_a_crash_mid_deletion_leaves_the_receipt_for_the_next_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _filed(tmp_path / "sent", "a.pdf", 100 * DAY, sidecar=True)
    keep = _filed(tmp_path / "sent", "b.pdf", 10 * DAY)
    real_unlink = Path.unlink
    calls: list[Path] = []

    def crash_after_two(self: Path, missing_ok: bool = False) -> None:
        if len(calls) == 2:
            raise SystemExit("killed")  # the process dies between two unlinks
        calls.append(self)
        real_unlink(self, missing_ok)

    monkeypatch.setattr(Path, "unlink", crash_after_two)
    cutoff = datetime.now(UTC).timestamp() - 90 * DAY
    with pytest.raises(SystemExit):
        archive.expire(tmp_path / "sent", cutoff)
    # Sidecar and document went first; the receipt that dates them is still there.
    assert not doc.exists() and (tmp_path / "sent" / "a.pdf.receipt.json").exists()
    monkeypatch.setattr(Path, "unlink", real_unlink)
    done = archive.expire(tmp_path / "sent", cutoff)  # the next pass finishes it
    assert (done.documents, done.receipts) == (0, 1)
    assert sorted(p.name for p in (tmp_path / "sent").iterdir()) == ["b.pdf", "b.pdf.receipt.json"]
    assert keep.exists()


def test_month_folders_and_a_missing_share(tmp_path: Path) -> None:
    when = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert archive.month_dir(tmp_path / "sent", when) == tmp_path / "sent" / "2026-12"
    old = _filed(tmp_path / "sent" / "2025-01", "a.pdf", 400 * DAY)
    _filed(tmp_path / "sent" / "2026-11", "b.pdf", 20 * DAY)
    done = archive.expire(tmp_path / "sent", datetime.now(UTC).timestamp() - 90 * DAY)
    assert (done.documents, done.months) == (1, 1) and not old.parent.exists()
    assert archive.filed_dirs(tmp_path / "sent") == [tmp_path / "sent", tmp_path / "sent" / "2026-11"]
    assert archive.dest_of(tmp_path / "sent" / "2026-11") == archive.dest_of(tmp_path / "sent") == tmp_path / "sent"
    assert archive.expire(tmp_path / "gone" / "sent", 0.0) == archive.Expired()  # creates nothing
    assert not (tmp_path / "gone").exists()


def test_retention_overrides_inherit_key_by_key(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "interfax": {"url": "embedded"},
            "state_dir": str(tmp_path / "state"),
            "retention": {"failed": "30d", "journal": "700d"},
            "defaults": {"retention": {"sent": "30d"}},
            "folders": [
                {"path": str(tmp_path / "a"), "to": "+12125550100", "retention": {"archive": "dated"}},
                {"path": str(tmp_path / "b"), "to": "+12125550100", "retention": {"sent": 0}},
            ],
        },
        base_dir=tmp_path,
    )
    a, b = (cfg.retention_for(f) for f in cfg.folders)
    assert (a.sent, a.failed, a.archive) == (30 * DAY, 30 * DAY, "dated")
    assert (b.sent, b.failed, b.archive) == (0.0, 30 * DAY, "delete")  # 0 keeps forever
    assert cfg.retention.journal == 700 * DAY
    table = render_routing_table(cfg)  # check-config shows each folder's retention
    assert "retention     sent kept 30d, failed kept 30d, month folders (sent/YYYY-MM/)" in table
    assert "retention     sent kept forever, failed kept 30d, flat" in table
    assert "final jobs kept 700d" in table


def test_an_older_journal_is_converted_to_incremental_vacuum(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    db = sqlite3.connect(journal_path(tmp_path))
    db.executescript(SCHEMA)  # as an earlier version created it: no auto_vacuum
    db.close()
    assert sqlite3.connect(journal_path(tmp_path)).execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    journal = Journal(tmp_path)
    try:
        assert journal.database.pragma("auto_vacuum") == 2
    finally:
        journal.close()
