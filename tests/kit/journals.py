"""The journal under test, on either backend: `journal_backend` is parametrized sqlite | postgresql.

A test that opens a Journal asks this fixture for it, so the same assertions run against SQLite in state_dir
and against a real PostgreSQL server (a fresh database of its own on the session's cluster, tests/kit/pg.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from faxdropd.jobs.journal import Journal
from faxdropd.jobs.schema import journal_path
from faxdropd.store.database import Database, Target
from faxdropd.store.opening import open_database

from .pg import PgCluster


@dataclass(frozen=True)
class JournalBackend:
    name: str  # "sqlite" | "postgresql"
    url: str | None = None

    def open(self, state_dir: Path, **kwargs: Any) -> Journal:
        return Journal(state_dir, url=self.url, **kwargs)

    def reader(self, state_dir: Path) -> Database:
        """A read-only connection of its own: what it sees is committed, whatever the journal's holds."""
        return open_database(Target(journal_path(state_dir), self.url), read_only=True)

    def config_yaml(self) -> str:
        """Top-level config lines that select this backend ("" for SQLite, the default)."""
        return f"journal: {self.url}\n" if self.url else ""

    def config_extra(self) -> dict[str, str]:
        """The same as a dict of top-level keys, for daemonkit.write_config(extra=...)."""
        return {"journal": self.url} if self.url else {}

    def env(self) -> dict[str, str]:
        """For a child process that opens the journal itself (tests/test_journal.py's scripts)."""
        return {"JOURNAL_URL": self.url or ""}


def new_database(cluster: PgCluster) -> tuple[str, str]:
    if not cluster.running:
        cluster.start()  # a test before may have stopped the shared cluster to simulate an outage
    name = f"j_{uuid.uuid4().hex[:12]}"
    cluster.create_database(name)
    return name, cluster.url(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_backend(request: pytest.FixtureRequest) -> Iterator[JournalBackend]:
    if request.param == "sqlite":
        yield JournalBackend("sqlite")
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name, url = new_database(cluster)
    yield JournalBackend("postgresql", url)
    if cluster.running:
        cluster.drop_database(name)
