"""The notification outbox: rows written in the same journal transaction as the outcome that causes them.

A row is one message to send: an e-mail (to one or more addresses) or one webhook POST. Its id is the
notification's identity for ever: the Message-ID and X-Faxdropd-Delivery are made from it, so a resend after a
crash carries the same one. The sender (faxdropd/notify/sender.py) reads due rows and reports back through
the methods below, each one short journal write of its own; nothing here ever blocks a fax.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from faxdropd.store.conn import DB_ERRORS, Conn, is_missing_table

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    job_id TEXT,
    folder TEXT NOT NULL,
    event TEXT NOT NULL,
    channel TEXT NOT NULL,
    target TEXT NOT NULL,
    payload TEXT NOT NULL,
    digest INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_at REAL NOT NULL,
    done_at REAL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_at);
"""

PENDING, SENT, GAVE_UP = "pending", "sent", "gave_up"
EMAIL, WEBHOOK = "email", "webhook"
# The `result` label of faxdropd_notifications_total: one per delivery attempt that ended this way.
SENT_RESULT, RETRIED, GIVEN_UP = "sent", "retried", "given_up"
RESULTS = (SENT_RESULT, RETRIED, GIVEN_UP)


def new_notification_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Notice:
    """One outbox row. `target` is the URL of a webhook or the recipients of an e-mail."""

    event: str
    channel: str
    target: list[str]
    payload: dict[str, Any]
    folder: str
    job_id: str | None = None
    digest: bool = False
    next_at: float = 0.0
    id: str = field(default_factory=new_notification_id)
    attempts: int = 0
    created_at: float = 0.0
    state: str = PENDING
    last_error: str | None = None


@dataclass(frozen=True)
class Backlog:
    """The outbox at a glance: what waits to be sent, since when, and what was given up."""

    pending: int = 0
    oldest_pending_at: float | None = None
    given_up: int = 0
    sent: int = 0


def target_label(n: Notice) -> list[str]:
    """Whom a row is for, safe to print: a webhook URL's path and query often hold its token, so only its host."""
    if n.channel != WEBHOOK:
        return list(n.target)
    return [f"{p.scheme}://{p.netloc.rpartition('@')[2]}" for p in map(urlsplit, n.target)]


def _row(row: Any) -> Notice:
    return Notice(
        id=row["id"],
        job_id=row["job_id"],
        folder=row["folder"],
        event=row["event"],
        channel=row["channel"],
        target=json.loads(row["target"]),
        payload=json.loads(row["payload"]),
        digest=bool(row["digest"]),
        state=row["state"],
        attempts=row["attempts"],
        created_at=row["created_at"],
        next_at=row["next_at"],
        last_error=row["last_error"],
    )


def insert(db: Conn, notices: Sequence[Notice], now: float, owner: str | None = None) -> None:
    """Called inside a journal writer's apply(): the rows commit with whatever else that writer changes.

    `owner` is the instance that sends them, on a shared journal (jobs/leases.py passes them on when it dies).
    """
    for n in notices:
        n.created_at = now
        db.execute(
            "INSERT INTO outbox (id, job_id, folder, event, channel, target, payload, digest, state, attempts,"
            " created_at, next_at, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?)",
            (
                n.id,
                n.job_id,
                n.folder,
                n.event,
                n.channel,
                json.dumps(n.target),
                json.dumps(n.payload, default=str),
                int(n.digest),
                now,
                n.next_at or now,
                owner,
            ),
        )


class OutboxMixin:
    """The journal's outbox operations; mixed into Journal, which provides `_db` and `_write`."""

    _db: Conn
    owner: str | None
    _lock: threading.RLock
    _write: Callable[[str, Callable[[], None]], None]

    def _rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
        # Under the journal's lock, so a read never runs inside another thread's half-applied group commit.
        with self._lock:
            try:
                return self._db.execute(sql, args).fetchall()
            except DB_ERRORS as exc:
                if is_missing_table(exc):  # a journal opened read-only from before the outbox existed
                    return []
                raise

    def enqueue(self, notices: list[Notice]) -> None:
        """Notifications caused by no job change (notify-test, account and folder events)."""
        if notices:
            self._write("outbox", lambda: insert(self._db, notices, time.time(), self.owner))

    def outbox_due(self, now: float, limit: int = 50) -> list[Notice]:
        # On a shared journal each instance sends its own rows (and those it took over from a dead one).
        mine, args = ("", ()) if self.owner is None else (" AND (owner IS NULL OR owner = ?)", (self.owner,))
        rows = self._rows(
            f"SELECT * FROM outbox WHERE state = 'pending' AND next_at <= ?{mine} ORDER BY next_at, id LIMIT ?",  # noqa: S608
            (now, *args, limit),
        )
        return [_row(r) for r in rows]

    def outbox_get(self, notification_id: str) -> Notice | None:
        rows = self._rows("SELECT * FROM outbox WHERE id = ?", (notification_id,))
        return _row(rows[0]) if rows else None

    def outbox_all(self) -> list[Notice]:
        return [_row(r) for r in self._rows("SELECT * FROM outbox ORDER BY created_at, id")]

    def outbox_next_due(self) -> float | None:
        rows = self._rows("SELECT MIN(next_at) FROM outbox WHERE state = 'pending'")
        return float(rows[0][0]) if rows and rows[0][0] is not None else None

    def outbox_backlog(self) -> Backlog:
        """Pending (and the oldest of them), given up and sent rows, for `status` and `queue`."""
        rows = self._rows("SELECT state, COUNT(*), MIN(created_at) FROM outbox GROUP BY state")
        by = {str(r[0]): (int(r[1]), r[2]) for r in rows}
        pending, oldest = by.get(PENDING, (0, None))
        return Backlog(pending, oldest, by.get(GAVE_UP, (0, None))[0], by.get(SENT, (0, None))[0])

    def outbox_unsettled(self, limit: int = 1000) -> list[Notice]:
        """Pending and given-up rows (given-up ones are kept 30 days), oldest first: what `queue` lists."""
        rows = self._rows("SELECT * FROM outbox WHERE state != 'sent' ORDER BY created_at, id LIMIT ?", (limit,))
        return [_row(r) for r in rows]

    def outbox_sent(self, ids: list[str]) -> None:
        now = time.time()

        def apply() -> None:
            self._db.executemany(
                "UPDATE outbox SET state = 'sent', done_at = ?, attempts = attempts + 1, last_error = NULL"
                " WHERE id = ?",
                [(now, i) for i in ids],
            )

        self._write("outbox", apply)

    def outbox_retry(self, ids: list[str], next_at: float, error: str) -> None:
        def apply() -> None:
            self._db.executemany(
                "UPDATE outbox SET next_at = ?, attempts = attempts + 1, last_error = ? WHERE id = ?",
                [(next_at, error, i) for i in ids],
            )

        self._write("outbox", apply)

    def outbox_give_up(self, ids: list[str], error: str) -> None:
        now = time.time()

        def apply() -> None:
            self._db.executemany(
                "UPDATE outbox SET state = 'gave_up', done_at = ?, attempts = attempts + 1, last_error = ?"
                " WHERE id = ?",
                [(now, error, i) for i in ids],
            )

        self._write("outbox", apply)

    def outbox_prune(self, before: float) -> None:
        """Forget settled rows older than `before`; pending ones stay, whatever their age."""

        def apply() -> None:
            self._db.execute("DELETE FROM outbox WHERE state != 'pending' AND done_at < ?", (before,))

        self._write("outbox", apply)
