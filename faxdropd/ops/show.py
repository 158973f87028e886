"""`show`: one job's whole history from the journal's events, its receipt if filed, its transaction ids.

A job is named by its id, its reference, or a file: the original name, the path it was filed under in
sent/ or failed/ (or its receipt), or its path in the work area.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faxdropd.files import names
from faxdropd.jobs import controls
from faxdropd.jobs.journal import Job, Journal
from faxdropd.jobs.schema import row_to_job, to_sql
from faxdropd.store.conn import Conn


@dataclass(frozen=True)
class Event:
    at: float
    state: str
    note: str


@dataclass(frozen=True)
class JobHistory:
    job: Job
    events: list[Event]
    receipt: dict[str, Any] | None
    held: bool


def find_jobs(journal: Journal, given: str) -> list[Job]:
    """Every job `given` may name, newest first (a name dropped twice names two jobs)."""
    path = Path(given)
    if path.name.endswith(names.RECEIPT_SUFFIX):
        path = names.document_of(path)
    absolute = str(Path(os.path.realpath(path.parent)) / path.name) if path.parent != Path() else None

    def query(conn: Conn) -> list[Any]:
        rows: list[Any] = conn.execute("SELECT * FROM jobs WHERE id = ? OR reference = ?", (given, given)).fetchall()
        if not rows and absolute is not None:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE final_path = ? OR work_path = ? ORDER BY created_at DESC",
                (to_sql(absolute), to_sql(absolute)),
            ).fetchall()
        if not rows:
            rows = conn.execute(
                "SELECT * FROM jobs WHERE name = ? ORDER BY created_at DESC", (to_sql(path.name),)
            ).fetchall()
        return rows

    return [row_to_job(r) for r in journal.read(query)]


def history(journal: Journal, job: Job) -> JobHistory:
    events = [Event(float(e["at"]), str(e["to_state"]), str(e["detail"] or "")) for e in journal.events(job.id)]
    receipt: dict[str, Any] | None = None
    if job.final_path:
        try:
            loaded = json.loads(names.receipt_path(Path(job.final_path)).read_text())
            receipt = loaded if isinstance(loaded, dict) else None
        except (OSError, ValueError):
            receipt = None  # moved on by the operator (retry), or its share is down
    held = journal.read(controls.read_holds).holds(job.id, job.folder)
    return JobHistory(job, events, receipt, held)
