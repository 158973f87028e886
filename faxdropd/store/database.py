"""A journal database: its connection and what differs between the engines beyond the SQL text.

One object per connection. The journal serialises its use under its own lock, so none of this is thread-safe
by itself; the PostgreSQL backend reconnects between transactions after the server went away.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faxdropd.store import dialect
from faxdropd.store.conn import Conn


@dataclass(frozen=True)
class Target:
    """Where the journal lives: SQLite at `path`, or the PostgreSQL server at `url` (a libpq URI)."""

    path: Path
    url: str | None = None
    password: str | None = None

    @property
    def kind(self) -> str:
        return dialect.POSTGRESQL if self.url else dialect.SQLITE

    def __repr__(self) -> str:
        # The password never reaches a log or a traceback through this object.
        return f"Target(path={self.path!s}, url={self.url!r}, password={'***' if self.password else None})"


class Database:
    kind: str = dialect.SQLITE

    @property
    def conn(self) -> Conn:
        raise NotImplementedError

    @property
    def now(self) -> str:
        """SQL for the database clock in epoch seconds."""
        return dialect.NOW[self.kind]

    def begin_write(self, *, durable: bool = True) -> None:
        """Start a write transaction. `durable=False`: its commit need outlive only this process, not the
        machine (it may be lost at a power cut, never at a crash), and costs no wait for the disk."""
        self.conn.execute(dialect.BEGIN_WRITE[self.kind])

    def end_write(self) -> None:
        """After the write transaction's COMMIT or ROLLBACK: undo what `begin_write` changed for it."""

    def when_lost(self, callback: Callable[[Exception], None]) -> None:
        """Call `callback` when the connection to a database server is lost (a local file has none to lose)."""

    def ready(self) -> None:
        """Called before a transaction: a backend that lost its server connects again here."""

    def migrate(self, steps: Sequence[str]) -> int:
        """Apply the migrations not yet applied, in one transaction; returns the schema version reached."""
        conn = self.conn
        self.begin_write()
        try:
            if self.kind == dialect.POSTGRESQL:
                conn.execute(f"SELECT pg_advisory_xact_lock({dialect.MIGRATION_LOCK})")
            conn.execute("CREATE TABLE IF NOT EXISTS migrations (version INTEGER PRIMARY KEY, at REAL NOT NULL)")
            row = conn.execute("SELECT MAX(version) FROM migrations").fetchone()
            done = int(row[0] or 0)
            for version, script in enumerate(steps, start=1):
                if version <= done:
                    continue
                for statement in dialect.statements(script):
                    conn.execute(self.ddl(statement))
                conn.execute(f"INSERT INTO migrations (version, at) VALUES (?, {self.now})", (version,))  # noqa: S608
            conn.execute("COMMIT")
        except BaseException:
            self.rollback()
            raise
        return max(done, len(steps))

    def ddl(self, statement: str) -> str:
        return statement

    def rollback(self) -> None:
        raise NotImplementedError

    def integrity(self) -> str:
        """ "ok", or what is damaged."""
        return "ok"

    def free_pages(self) -> int:
        """Pages a vacuum could give back to the file system (SQLite's freelist; none elsewhere)."""
        return 0

    def size_bytes(self) -> int:
        """What the journal takes on disk."""
        return 0

    def vacuum_pages(self, conn: Conn, pages: int) -> int:
        return 0

    def checkpoint(self) -> None:
        """Shrink the write-ahead log after a prune, where the engine leaves that to us."""

    def pragma(self, name: str) -> Any:
        raise NotImplementedError(f"PRAGMA {name} is SQLite's")

    def close(self) -> None:
        self.conn.close()
