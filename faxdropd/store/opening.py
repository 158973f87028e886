"""Which backend a journal target opens: PostgreSQL when the config names a server, SQLite otherwise."""

from __future__ import annotations

from faxdropd.store.database import Database, Target


def open_database(target: Target, *, read_only: bool = False) -> Database:
    if target.url:
        # Imported here so that single-host installs never load psycopg.
        from faxdropd.store.postgres import PgDatabase

        return PgDatabase(target.url, target.password, read_only=read_only)
    from faxdropd.store.sqlite import SqliteDatabase

    return SqliteDatabase(target.path, read_only=read_only)
