"""The status-query budget of one InterFAX account, shared by every instance of a shared journal.

InterFAX admits `per_minute` FaxQuery/FaxQuery2 calls per account in any minute, whichever host asks. With a
shared journal the sliding window (interfax/ratelimit.py's rule: a query counts from when its reply came back)
is one row of the `budgets` table, read and written in one transaction with the row locked, and timed by the
database's clock only, so two hosts together never exceed the limit whatever their own clocks say.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from faxdropd.interfax.ratelimit import QUERY_WINDOW, QueryBudget
from faxdropd.jobs.journal import Journal
from faxdropd.store import dialect
from faxdropd.store.conn import Conn

STATUS = "status_queries"


class SharedBudget(QueryBudget):
    """QueryBudget's interface, kept in the journal: the monotonic `now` the callers pass is not used."""

    def __init__(self, journal: Journal, per_minute: int, window: float = QUERY_WINDOW, name: str = STATUS) -> None:
        super().__init__(per_minute, window)
        self.journal = journal
        self.name = name
        self._mine: float | None = None  # the stamp of our reserved query, moved to its reply by settle()

    def _row(self, conn: Conn) -> tuple[float, list[float], float]:
        now_sql = self.journal.database.now
        lock = dialect.FOR_UPDATE[self.journal.database.kind]
        conn.execute(
            "INSERT INTO budgets (name, stamps, blocked_until) VALUES (?, '[]', 0) ON CONFLICT (name) DO NOTHING",
            (self.name,),
        )
        row = conn.execute(
            f"SELECT {now_sql}, stamps, blocked_until FROM budgets WHERE name = ?{lock}",  # noqa: S608
            (self.name,),
        ).fetchone()
        now = float(row[0])
        stamps = [float(s) for s in json.loads(row[1]) if now - float(s) < self.window]
        return now, stamps, float(row[2])

    def _save(self, conn: Conn, stamps: list[float], blocked_until: float | None = None) -> None:
        conn.execute("UPDATE budgets SET stamps = ? WHERE name = ?", (json.dumps(stamps), self.name))
        if blocked_until is not None:
            conn.execute(
                "UPDATE budgets SET blocked_until = ? WHERE name = ? AND blocked_until < ?",
                (blocked_until, self.name, blocked_until),
            )

    def take(self, now: float) -> bool:
        def apply(conn: Conn) -> float | None:
            at, stamps, blocked = self._row(conn)
            if at < blocked or len(stamps) >= self.per_minute:
                return None
            self._save(conn, [*stamps, at])
            return at

        self._mine = self.journal.write("budget", apply)
        return self._mine is not None

    def settle(self, now: float) -> None:
        mine, self._mine = self._mine, None
        if mine is None:
            return

        def apply(conn: Conn) -> None:
            at, stamps, _ = self._row(conn)
            # Counted from the reply: our stamp moves to the database's now (it may have expired meanwhile).
            self._save(conn, sorted([s for s in stamps if s != mine] + [max(mine, at)]))

        self.journal.write("budget", apply)

    def back_off(self, now: float, seconds: float) -> None:
        def apply(conn: Conn) -> None:
            at, stamps, _ = self._row(conn)
            self._save(conn, stamps, at + seconds)

        self.journal.write("budget", apply)

    def free_at(self, now: float) -> float:
        def query(conn: Conn) -> float:
            at, stamps, blocked = self._row(conn)
            full = stamps[0] + self.window if len(stamps) >= self.per_minute else at
            return max(at, full, blocked) - at

        return now + self.journal.write("budget", query)

    def dump(self, now: float, wall: float) -> list[float]:
        return []  # the row is the record: nothing for the meta table

    def load(self, stamps: Iterable[float], now: float, wall: float) -> None:
        pass
