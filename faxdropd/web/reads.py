"""The page's view of the journal: read-only connections of its own (SQLite or PostgreSQL), one per thread.

Never the daemon's writer connection or its lock: a page view must not wait for, or hold up, a group commit.
`mode=ro` makes any write through these connections an error, so a bug here cannot change a job.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faxdropd.jobs import controls
from faxdropd.jobs.schema import Job, State, journal_path, row_to_job
from faxdropd.store.conn import DB_ERRORS, Conn
from faxdropd.store.database import Database, Target
from faxdropd.store.opening import open_database

PAGE_SIZE = 50
WAITING = (State.CLAIMED, State.DEFERRED)
IN_FLIGHT = (State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.UNKNOWN)
FAILED = (State.FAILED, State.REJECTED)
# Columns a list needs: not `delivery` (per-transaction detail, large for multi-number jobs).
_LIST_COLUMNS = "id, reference, folder, name, state, numbers, reason, created_at, updated_at, outcome"


@dataclass(frozen=True)
class Row:
    """One job in a list: what the dashboard and the search results show."""

    id: str
    reference: str
    folder: str
    name: str
    state: str
    numbers: list[str]
    reason: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Search:
    q: str = ""
    folder: str = ""
    state: str = ""
    since: float | None = None
    page: int = 1


def _row(r: Any) -> Row:
    name = r["name"]
    return Row(
        id=r["id"],
        reference=r["reference"],
        folder=r["folder"],
        name=name.decode(errors="replace") if isinstance(name, bytes) else name,
        state=r["state"],
        numbers=json.loads(r["numbers"]),
        reason=r["reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _marks(values: tuple[object, ...]) -> str:
    return ", ".join("?" for _ in values)


class JournalView:
    """Read-only queries for the page. Safe to share between threads: each thread opens its own connection."""

    def __init__(self, state_dir: Path, target: Target | None = None) -> None:
        self.path = journal_path(state_dir)
        self.target = target or Target(self.path)
        self._local = threading.local()

    def _db(self) -> Conn:
        # SQLite read-only waits its default 5 s for a commit in progress, never the daemon's 30 s.
        database: Database | None = getattr(self._local, "db", None)
        if database is None:
            database = open_database(self.target, read_only=True)
            self._local.db = database
        database.ready()
        return database.conn

    def readable(self) -> bool:
        try:
            self._db().execute("SELECT 1 FROM jobs LIMIT 1").fetchall()
        except DB_ERRORS:
            return False
        return True

    def meta(self, key: str) -> str | None:
        row = self._db().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None

    def folder_counts(self, since: float) -> dict[str, dict[str, int]]:
        """Per folder: waiting, in flight (both by the state index), and failed since `since` (by updated_at)."""
        db = self._db()
        out: dict[str, dict[str, int]] = {}
        open_states = tuple(str(s) for s in (*WAITING, *IN_FLIGHT))
        rows = db.execute(
            f"SELECT folder, state, COUNT(*) FROM jobs WHERE state IN ({_marks(open_states)}) GROUP BY folder, state",  # noqa: S608
            open_states,
        ).fetchall()
        for folder, state, count in rows:
            key = "waiting" if state in WAITING else "in_flight"
            counts = out.setdefault(folder, {"waiting": 0, "in_flight": 0, "failed": 0})
            counts[key] += count
        failed = tuple(str(s) for s in FAILED)
        rows = db.execute(
            # jobs_state_age (state, updated_at): a day's failures, not every failure the journal ever held.
            f"SELECT folder, COUNT(*) FROM jobs WHERE updated_at >= ? AND state IN ({_marks(failed)}) GROUP BY folder",  # noqa: S608
            (since, *failed),
        ).fetchall()
        for folder, count in rows:
            out.setdefault(folder, {"waiting": 0, "in_flight": 0, "failed": 0})["failed"] = count
        return out

    def recent(self, limit: int = PAGE_SIZE) -> list[Row]:
        rows = (
            self._db()
            .execute(
                f"SELECT {_LIST_COLUMNS} FROM jobs ORDER BY updated_at DESC LIMIT ?",  # noqa: S608
                (limit,),
            )
            .fetchall()
        )
        return [_row(r) for r in rows]

    def failures(self, since: float, limit: int = PAGE_SIZE) -> list[Row]:
        failed = tuple(str(s) for s in FAILED)
        rows = (
            self._db()
            .execute(
                f"SELECT {_LIST_COLUMNS} FROM jobs WHERE updated_at >= ? AND state IN ({_marks(failed)}) "  # noqa: S608
                "ORDER BY updated_at DESC LIMIT ?",
                (since, *failed, limit),
            )
            .fetchall()
        )
        return [_row(r) for r in rows]

    def search(self, s: Search) -> tuple[list[Row], bool]:
        """One page of jobs matching `s`, newest first, and whether another page follows."""
        where: list[str] = []
        args: list[Any] = []
        q = s.q.strip()
        if q:
            like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses = ["name LIKE ? ESCAPE '\\'", "id = ?", "reference = ?"]
            args += [like, q, q]
            digits = "".join(c for c in q if c.isdigit())
            if digits and len(digits) >= 3 and all(c.isdigit() or c in "+ -().," for c in q):
                clauses.append("instr(numbers, ?) > 0")  # numbers are stored as E.164: match the digits typed
                args.append(digits)
            where.append("(" + " OR ".join(clauses) + ")")
        if s.folder:
            where.append("folder = ?")
            args.append(s.folder)
        if s.state:
            where.append("state = ?")
            args.append(s.state)
        if s.since is not None:
            where.append("updated_at >= ?")
            args.append(s.since)
        # A text search reads every row whatever the index: in table order that is one sequential pass (and
        # a top-N sort of the matches), where walking the updated_at index would fetch each row at random.
        scan = " NOT INDEXED" if q and s.since is None else ""
        sql = f"SELECT {_LIST_COLUMNS} FROM jobs{scan}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY updated_at DESC LIMIT ? OFFSET ?"
        args += [PAGE_SIZE + 1, (max(1, s.page) - 1) * PAGE_SIZE]
        rows = [_row(r) for r in self._db().execute(sql, args).fetchall()]
        return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE

    def job(self, job_id: str) -> Job | None:
        row = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row_to_job(row) if row else None

    def events(self, job_id: str) -> list[dict[str, Any]]:
        rows = (
            self._db()
            .execute("SELECT at, from_state, to_state, detail FROM events WHERE job_id = ? ORDER BY seq", (job_id,))
            .fetchall()
        )
        return [dict(r) for r in rows]

    def held(self, job: Job) -> str | None:
        """Why `job` is held (its own hold or its folder's), None when it is not."""
        holds = controls.read_holds(self._db())
        return holds.jobs.get(job.id) or holds.folders.get(job.folder)
