"""The operator's tables in the journal: commands waiting for the daemon, and holds on jobs and folders.

A command (hold, release, cancel) made while the daemon runs is a row in `commands`, written by the command
process in its own short transaction (SQLite WAL lets a second connection write between the daemon's group
commits; busy_timeout waits out a commit in progress). The daemon applies each pending row and marks it done
in the same transaction as its effect, so a crash anywhere leaves the row either pending (applied on the next
start) or done with its effect: never applied twice, never lost. Every function here takes the connection it
runs on; the transaction around it is the caller's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from faxdropd.store.conn import DB_ERRORS, Conn, is_missing_table

CONTROL_SCHEMA = """
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    verb TEXT NOT NULL,
    target TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    done_at REAL,
    ok INTEGER,
    result TEXT
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands(id) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS holds (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    at REAL NOT NULL,
    PRIMARY KEY (kind, name)
);
"""

JOB = "job"
FOLDER = "folder"


@dataclass(frozen=True)
class Command:
    id: int
    at: float
    verb: str
    target: str
    reason: str
    done_at: float | None
    ok: bool | None
    result: str | None


@dataclass(frozen=True)
class Holds:
    """Held job ids and folder names, each with the operator's reason."""

    jobs: dict[str, str]
    folders: dict[str, str]

    def holds(self, job_id: str, folder: str) -> bool:
        return job_id in self.jobs or folder in self.folders

    def __len__(self) -> int:
        return len(self.jobs) + len(self.folders)


def add_command(conn: Conn, verb: str, target: str, reason: str) -> int:
    row = conn.execute(
        "INSERT INTO commands (at, verb, target, reason) VALUES (?, ?, ?, ?) RETURNING id",
        (time.time(), verb, target, reason),
    ).fetchone()
    return int(row[0])


def _command(row: Any) -> Command:
    cid, at, verb, target, reason, done_at, ok, result = tuple(row)
    return Command(
        int(str(cid)),
        float(str(at)),
        str(verb),
        str(target),
        str(reason),
        float(str(done_at)) if done_at is not None else None,
        bool(ok) if ok is not None else None,
        str(result) if result is not None else None,
    )


_COLUMNS = "id, at, verb, target, reason, done_at, ok, result"


def pending_commands(conn: Conn) -> list[Command]:
    try:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM commands WHERE done_at IS NULL ORDER BY id").fetchall()  # noqa: S608
    except DB_ERRORS as exc:
        # A journal written before these tables existed, opened read-only: nothing is held, nothing pending.
        if is_missing_table(exc):
            return []
        raise
    return [_command(r) for r in rows]


def get_command(conn: Conn, command_id: int) -> Command | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM commands WHERE id = ?", (command_id,)).fetchone()  # noqa: S608
    return _command(row) if row else None


def finish_command(conn: Conn, command_id: int, ok: bool, result: str) -> None:
    # `done_at IS NULL`: a row is finished once, whoever got there first.
    conn.execute(
        "UPDATE commands SET done_at = ?, ok = ?, result = ? WHERE id = ? AND done_at IS NULL",
        (time.time(), int(ok), result, command_id),
    )


def read_holds(conn: Conn) -> Holds:
    try:
        rows = conn.execute("SELECT kind, name, reason FROM holds").fetchall()
    except DB_ERRORS as exc:
        # A journal written before these tables existed, opened read-only: nothing is held, nothing pending.
        if is_missing_table(exc):
            return Holds({}, {})
        raise
    jobs = {str(r[1]): str(r[2]) for r in rows if r[0] == JOB}
    folders = {str(r[1]): str(r[2]) for r in rows if r[0] == FOLDER}
    return Holds(jobs, folders)


def set_hold(conn: Conn, kind: str, name: str, reason: str) -> bool:
    """Hold `name`; False if it was held already (the first reason stays)."""
    cur = conn.execute(
        "INSERT INTO holds (kind, name, reason, at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (kind, name, reason, time.time()),
    )
    return cur.rowcount > 0


def clear_hold(conn: Conn, kind: str, name: str) -> bool:
    """Release `name`; False if it was not held."""
    return conn.execute("DELETE FROM holds WHERE kind = ? AND name = ?", (kind, name)).rowcount > 0


def note_event(conn: Conn, job_id: str, state: str, detail: str) -> None:
    """An event in the job's history that does not change its state (held, released, cancel requested)."""
    conn.execute(
        "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
        (job_id, time.time(), state, state, detail),
    )


def decide_cancelled(conn: Conn, job_id: str, state: str, reason: str) -> bool:
    """Record the outcome `failed` of a job that never reached InterFAX; the finisher's refile files it.

    Guarded on the state and on no outcome yet, so a job a worker took up meanwhile is left alone.
    """
    now = time.time()
    cur = conn.execute(
        "UPDATE jobs SET outcome = 'failed', reason = ?, completed_at = ?, updated_at = ? "
        "WHERE id = ? AND state = ? AND outcome IS NULL",
        (reason, now, now, job_id, state),
    )
    if cur.rowcount:
        conn.execute(
            "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
            (job_id, now, state, state, f"outcome failed: {reason}"),
        )
    return cur.rowcount > 0
