"""Retention's journal pruning against a real daemon, on both journal backends (SQLite and PostgreSQL).

tests/test_retention.py measures a 100 000-document pass on SQLite; this one checks on either backend which
jobs the pass deletes: final ones older than max(retention.journal, limits.duplicate_window), with their
events, across more than one batch — and nothing newer, nothing inside the duplicate window.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemonkit import DaemonProcess, wait_for, write_config
from kit.journals import JournalBackend

from faxdropd.jobs.retention import BATCH
from faxdropd.store.conn import Conn

DAY = 86400.0
OLD = BATCH + 20  # more than one batch of expired jobs


def _seed(backend: JournalBackend, state: Path, ages: list[tuple[float, str]], now: float) -> dict[str, float]:
    """Final jobs of the given ages and states, two events each, written through the journal itself."""
    seeded = {uuid.uuid4().hex[:16]: age for age, _ in ages}

    def insert(db: Conn) -> None:
        for i, ((job_id, age), (_, state_name)) in enumerate(zip(seeded.items(), ages, strict=True)):
            at = now - age
            db.execute(
                "INSERT INTO jobs (id, reference, folder, hot, name, work_path, state, created_at, updated_at, "
                "completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, f"ref{i}", "office", "/h", f"doc{i}.pdf", "/w", state_name, at, at, at),
            )
            for before, after, detail in ((None, "claimed", "created"), ("claimed", state_name, "filed")):
                db.execute(
                    "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
                    (job_id, at, before, after, detail),
                )

    journal = backend.open(state)
    try:
        journal.write("seed", insert)
    finally:
        journal.close()
    return seeded


def test_the_pass_prunes_old_final_jobs_with_their_events(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], journal_backend: JournalBackend
) -> None:
    now = datetime.now(UTC).timestamp()
    finals = ["delivered", "failed", "rejected"]
    ages = [(300 * DAY + i, finals[i % 3]) for i in range(OLD)]  # past both limits: pruned
    ages += [(220 * DAY, "delivered"), (220 * DAY, "failed")]  # past journal: but inside the duplicate window
    ages += [(10 * DAY, "delivered"), (1 * DAY, "rejected")]  # recent
    state = tmp_path / "state"
    seeded = _seed(journal_backend, state, ages, now)
    hot = tmp_path / "office"
    hot.mkdir()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+99999990", "name": "office"}],
        extra={
            "retention": {"journal": "200d"},
            "limits": {"duplicate_window": "250d"},
            **journal_backend.config_extra(),
        },
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    [done] = wait_for(lambda: [e for e in d.events() if e.get("event") == "retention.pass"], 60, what="a pass")
    assert d.stop() == 0
    assert done["jobs"] == OLD

    db = journal_backend.reader(state)
    try:
        left = {r[0] for r in db.conn.execute("SELECT id FROM jobs").fetchall()}
        events = Counter(r[0] for r in db.conn.execute("SELECT job_id FROM events").fetchall())
    finally:
        db.close()
    assert left == {job_id for job_id, age in seeded.items() if age < 250 * DAY}
    assert len(left) == 4
    assert set(events) == left and set(events.values()) == {2}  # no orphaned events, none of the kept lost
    counted = Counter(e["event"] for e in d.events())
    assert counted["retention.pass"] == 1 and not counted["retention.failed"]
