"""The SQLite backend: one file in state_dir, WAL with synchronous=FULL, the default for one host."""

from __future__ import annotations

import sqlite3
from contextlib import suppress
from pathlib import Path
from typing import Any

from faxdropd.errors import FaxdropError
from faxdropd.store.conn import Conn
from faxdropd.store.database import Database


class SqliteDatabase(Database):
    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        if read_only:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
        else:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lowered = False  # this transaction runs at synchronous=NORMAL (begin_write(durable=False))
        if read_only:
            return
        # Retention frees pages with an incremental vacuum (jobs/retention.py): a new journal gets
        # auto_vacuum before its first table exists; an older one is converted once by a full VACUUM.
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if self.pragma("auto_vacuum") != 2:
            import structlog  # here, on the one path that logs: console commands start without it (#19)

            log = structlog.get_logger("faxdropd.jobs.journal")
            log.info("journal.converting", action="enabling incremental vacuum (once; rewrites the journal)")
            self._db.execute("VACUUM")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        check = self.integrity()
        if check != "ok":
            raise FaxdropError(f"journal {path} failed its integrity check: {check}")

    @property
    def conn(self) -> sqlite3.Connection:
        return self._db

    def begin_write(self, *, durable: bool = True) -> None:
        # In WAL mode, NORMAL writes the commit to the WAL file without an fsync: the OS has it, so it outlives
        # the process; the next FULL commit's fsync of the WAL makes it durable too, in order.
        self._lowered = not durable
        if self._lowered:
            self._db.execute("PRAGMA synchronous=NORMAL")
        super().begin_write()

    def end_write(self) -> None:
        if self._lowered:
            self._lowered = False
            self._db.execute("PRAGMA synchronous=FULL")

    def rollback(self) -> None:
        # A failed COMMIT may already have rolled back; a failed ROLLBACK changes nothing we rely on.
        with suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")

    def integrity(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def pragma(self, name: str) -> Any:
        return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def size_bytes(self) -> int:
        """The database, its WAL and shared-memory file."""
        size = 0
        for suffix in ("", "-wal", "-shm"):
            with suppress(OSError):  # no WAL yet, or the file is being checkpointed away
                size += self.path.with_name(self.path.name + suffix).stat().st_size
        return size

    def free_pages(self) -> int:
        return int(self.pragma("freelist_count"))

    def vacuum_pages(self, conn: Conn, pages: int) -> int:
        free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        step = min(free, pages)
        for _ in range(step):
            # One page a statement: Python's sqlite3 steps a pragma statement once, and each step of
            # incremental_vacuum frees one page.
            conn.execute("PRAGMA incremental_vacuum(1)").fetchall()
        return step

    def checkpoint(self) -> None:
        """Truncate the WAL; gives up at once rather than wait for a reader."""
        self._db.execute("PRAGMA busy_timeout=0")  # a `status` reading now: skip, the next pass retries
        try:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self._db.execute("PRAGMA busy_timeout=30000")  # as connect(timeout=30) set it
