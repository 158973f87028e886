"""The PostgreSQL backend: the journal on a server that several hosts share. The only psycopg import.

The connection runs in autocommit, so the journal's own BEGIN ... COMMIT (and its savepoints) are the
transactions, exactly as on SQLite. A connection the server dropped is replaced before the next transaction;
a statement that fails mid-transaction fails that transaction (the journal's rule decides what follows).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from faxdropd.store import dialect
from faxdropd.store.conn import MissingTable, Row, StoreError
from faxdropd.store.database import Database

# A file name that is not UTF-8 is stored by SQLite as a BLOB; PostgreSQL's text cannot hold it, so it is
# kept as this marker and the bytes in hex, and turned back into the same bytes when read.
_BYTES_MARK = "\ufffe"


def _param(value: Any) -> Any:
    if isinstance(value, bytes):
        return _BYTES_MARK + value.hex()
    if isinstance(value, bool):
        return int(value)  # the journal's flags are INTEGER columns, as in SQLite
    return value


def _params(parameters: Any) -> Any:
    if parameters is None:
        return None
    if isinstance(parameters, dict):
        return {k: _param(v) for k, v in parameters.items()}
    return [_param(v) for v in parameters]


def _value(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_BYTES_MARK):
        return bytes.fromhex(value[len(_BYTES_MARK) :])
    return value


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names = tuple(c.name for c in cursor.description or ())
    return lambda values: Row([_value(v) for v in values], names)


def _wrap(exc: psycopg.Error) -> StoreError:
    text = f"{type(exc).__name__}: {exc}".strip()
    if isinstance(exc, pg_errors.UndefinedTable):
        return MissingTable(text)
    return StoreError(text)


class PgCursor:
    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    def fetchone(self) -> Any:
        try:
            return self._cursor.fetchone()
        except psycopg.Error as exc:
            raise _wrap(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return list(self._cursor.fetchall())
        except psycopg.Error as exc:
            raise _wrap(exc) from exc

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConn:
    """A psycopg connection with sqlite3's `execute` shape (see store/conn.py)."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._conn: Any = connect()
        self._trace: Callable[[str], None] | None = None
        # Called with the error when the server is lost mid-statement (the daemon's journal ends the process).
        self.on_lost: Callable[[Exception], None] | None = None
        self._guard = threading.Lock()

    def set_trace_callback(self, trace: Callable[[str], None] | None) -> None:
        self._trace = trace

    def execute(self, sql: str, parameters: Any = None, /) -> PgCursor:
        if self._trace is not None:
            self._trace(sql)
        # Without parameters psycopg does not read placeholders, so the statement goes as written.
        text = dialect.to_postgres(sql) if parameters is not None else sql
        try:
            return PgCursor(self._conn.execute(text, _params(parameters)))
        except psycopg.OperationalError as exc:
            error = _wrap(exc)
            if self.on_lost is not None:
                self.on_lost(error)
            raise error from exc
        except psycopg.Error as exc:
            raise _wrap(exc) from exc

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> None:
        for parameters in seq_of_parameters:
            self.execute(sql, parameters)

    @property
    def in_transaction(self) -> bool:
        return bool(self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def reconnect_if_lost(self) -> None:
        with self._guard:
            if self._conn.closed or self._conn.broken:
                try:
                    self._conn = self._connect()
                except psycopg.Error as exc:
                    raise _wrap(exc) from exc

    def close(self) -> None:
        self._conn.close()


class PgDatabase(Database):
    kind = dialect.POSTGRESQL

    def __init__(
        self, url: str, password: str | None = None, *, read_only: bool = False, name: str = "faxdropd"
    ) -> None:
        extra: dict[str, Any] = {"application_name": name, "autocommit": True, "row_factory": _row_factory}
        if password:
            extra["password"] = password
        if "connect_timeout" not in url:
            extra["connect_timeout"] = 10
        if read_only:
            extra["options"] = "-c default_transaction_read_only=on"

        def connect() -> Any:
            return psycopg.connect(url, **extra)

        try:
            self._db = PgConn(connect)
        except psycopg.Error as exc:
            raise _wrap(exc) from exc

    @property
    def conn(self) -> PgConn:
        return self._db

    def ready(self) -> None:
        self._db.reconnect_if_lost()

    def begin_write(self, *, durable: bool = True) -> None:
        super().begin_write()
        if not durable:
            # The server acknowledges before its WAL is flushed: kept unless the server itself dies first.
            self._db.execute("SET LOCAL synchronous_commit TO OFF")

    def when_lost(self, callback: Callable[[Exception], None]) -> None:
        self._db.on_lost = callback

    def size_bytes(self) -> int:
        row = self._db.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0])

    def ddl(self, statement: str) -> str:
        return dialect.ddl_to_postgres(statement)

    def rollback(self) -> None:
        with contextlib.suppress(StoreError):  # a lost connection has no transaction left to roll back
            self._db.execute("ROLLBACK")
