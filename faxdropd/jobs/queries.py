"""The journal's read side: every query the daemon, the tracker and the CLI ask of it.

A mixin of Journal (journal.py), which owns the connection and the lock; reads take the lock so they never
run inside another thread's half-applied group commit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from faxdropd.jobs.schema import FINAL, SENT_LIKE, Job, State, from_sql, row_to_job
from faxdropd.store.conn import Conn

T = TypeVar("T")
IN_BATCH = 500  # ids in one `IN (...)`: well under SQLite's 32,766 host parameters and a sane PostgreSQL statement


def _marks(values: Iterable[object]) -> str:
    """Placeholders for an SQL `IN (...)` list of these values."""
    return ", ".join("?" for _ in values)


class JournalReads:
    _db: Conn
    owner: str | None
    _lock: threading.RLock

    def read(self, query: Callable[[Conn], T]) -> T:
        """Run `query(connection)` under the lock: reads of controls.py's tables, the console's look-ups."""
        with self._lock:
            return query(self._db)

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row_to_job(row) if row else None

    def _mine_in(self, states: tuple[State, ...]) -> tuple[str, list[str]]:
        """The WHERE clause (and its values) of this instance's jobs in these states: on a shared journal the
        others' are theirs to work."""
        mine = "" if self.owner is None else " AND (owner IS NULL OR owner = ?)"
        values = [*[str(s) for s in states], *([] if self.owner is None else [self.owner])]
        return f"state IN ({_marks(states)}){mine}", values

    def by_state(self, *states: State) -> list[Job]:
        """This instance's jobs in these states, oldest first."""
        where, values = self._mine_in(states)
        with self._lock:
            rows = self._db.execute(f"SELECT * FROM jobs WHERE {where} ORDER BY created_at", values).fetchall()  # noqa: S608
        return [row_to_job(r) for r in rows]

    def by_state_cached(self, cache: dict[str, Job], *states: State) -> list[Job]:
        """`by_state`, reading whole rows only for jobs that are new or changed since `cache` (kept by the caller,
        brought up to date here): a poll round twice a second over hundreds of submitted jobs then reads their
        ids and change times, not every column of every row.

        Every change of a job's own facts sets updated_at (changes.py, controls.py); lease renewals do not, and
        the owner is matched in the query itself.
        """
        where, values = self._mine_in(states)
        with self._lock:
            stamps = self._db.execute(
                f"SELECT id, updated_at FROM jobs WHERE {where} ORDER BY created_at",  # noqa: S608
                values,
            ).fetchall()
            stale = [job_id for job_id, at in stamps if (known := cache.get(job_id)) is None or known.updated_at != at]
            for start in range(0, len(stale), IN_BATCH):
                batch = stale[start : start + IN_BATCH]
                rows = self._db.execute(f"SELECT * FROM jobs WHERE id IN ({_marks(batch)})", batch)  # noqa: S608
                cache.update((job.id, job) for job in map(row_to_job, rows.fetchall()))
        current = {job_id for job_id, _ in stamps}
        for gone in cache.keys() - current:
            del cache[gone]
        return [cache[job_id] for job_id, _ in stamps if job_id in cache]

    def live_work_paths(self) -> set[str]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT work_path, sidecar_path FROM jobs WHERE state NOT IN ({_marks(FINAL)})",  # noqa: S608
                [str(s) for s in FINAL],
            ).fetchall()
        return {from_sql(p) for r in rows for p in r if p}

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def oldest_pending(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT MIN(created_at) FROM jobs WHERE state NOT IN ({_marks(FINAL)})",  # noqa: S608
                [str(s) for s in FINAL],
            ).fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def oldest_job(self) -> float | None:
        """Creation time of the oldest job kept (any state): what retention has not pruned yet."""
        with self._lock:
            row = self._db.execute("SELECT MIN(created_at) FROM jobs").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def final_before(self, cutoff: float) -> bool:
        """Whether any final job was last updated before `cutoff`: retention's prune has work to do."""
        with self._lock:
            row = self._db.execute(
                f"SELECT 1 FROM jobs WHERE state IN ({_marks(FINAL)}) AND updated_at < ? LIMIT 1",  # noqa: S608
                [*[str(s) for s in FINAL], cutoff],
            ).fetchone()
        return row is not None

    def recent(self, states: tuple[State, ...], limit: int = 10) -> list[Job]:
        marks = _marks(states)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY updated_at DESC LIMIT ?",  # noqa: S608
                [*[str(s) for s in states], limit],
            ).fetchall()
        return [row_to_job(r) for r in rows]

    def sends_of(self, sha256: str, since: float, exclude: str) -> list[Job]:
        """Jobs with this content that went (or may have gone) out since `since`: the duplicate check."""
        marks = _marks(SENT_LIKE)
        with self._lock:
            rows = self._db.execute(
                f"SELECT * FROM jobs WHERE sha256 = ? AND id != ? AND state IN ({marks}) "  # noqa: S608
                "AND COALESCE(submitted_at, updated_at) >= ?",
                [sha256, exclude, *[str(s) for s in SENT_LIKE], since],
            ).fetchall()
        return [row_to_job(r) for r in rows]

    def submitted_since(self, since: float, folder: str | None = None) -> list[float]:
        """Submission times since `since` (oldest first), globally or for one folder: the hourly cap."""
        query = "SELECT submitted_at FROM jobs WHERE submitted_at >= ?"
        args: list[Any] = [since]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY submitted_at", args).fetchall()
        return [float(r[0]) for r in rows]

    def events(self, job_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM events WHERE job_id = ? ORDER BY seq", (job_id,)).fetchall()
        return [dict(r) for r in rows]

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else None
