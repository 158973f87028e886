"""What a journal connection looks like to its callers, whichever database is behind it.

sqlite3's connection already has this shape; the PostgreSQL backend wraps psycopg to match it, so the SQL the
rooms above write (in the SQLite dialect, `?` and `:name` placeholders) runs unchanged on both.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, Protocol


class StoreError(Exception):
    """A PostgreSQL error, re-raised so that callers need not import psycopg to catch it."""


class MissingTable(StoreError):
    """The statement named a table that does not exist (a journal older than the table)."""


# Every database error a caller may catch: sqlite3's own, and the PostgreSQL backend's StoreError.
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreError)
# The errors that mean a write did not reach the disk (the journal's crash-only rule).
WRITE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, StoreError, OSError)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> Any: ...

    def close(self) -> None: ...


class Row(tuple[Any, ...]):
    """A result row read by position or by column name, and `dict(row)`-able, like sqlite3.Row."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


def is_missing_table(exc: BaseException) -> bool:
    """A journal written before a table existed, opened read-only: the caller reads it as empty."""
    return isinstance(exc, MissingTable) or (isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc))
