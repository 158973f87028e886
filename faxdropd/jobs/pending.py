"""One writer's place in the journal's group commit (jobs/journal.py:Journal._write) and how a batch of them
runs, one job's change for a batch of them (Journal.change_many), and new job ids."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from faxdropd.store.conn import WRITE_ERRORS, Conn

if TYPE_CHECKING:
    from faxdropd.jobs.outbox import Notice
    from faxdropd.jobs.schema import Job, State


class Pending:
    """One writer's statements waiting for the next group commit (Journal._write)."""

    __slots__ = ("apply", "done", "durable", "error", "what")

    def __init__(self, what: str, apply: Callable[[], None], *, durable: bool = True) -> None:
        self.what, self.apply, self.durable = what, apply, durable
        self.done = False
        self.error: BaseException | None = None

    def result(self) -> None:
        if self.error is not None:
            raise self.error


def apply_batch(conn: Conn, batch: list[Pending], rollback: Callable[[], None]) -> bool:
    """Each writer's statements in the open transaction; False when a lone writer failed (rolled back)."""
    # Alone, a writer needs no savepoint: two statements fewer per commit (each one a GIL hand-off in
    # sqlite3, a round trip to PostgreSQL), and its failure rolls back the whole.
    shared = len(batch) > 1
    for pending in batch:
        if shared:
            conn.execute("SAVEPOINT one_writer")
        try:
            pending.apply()
        except WRITE_ERRORS:
            raise
        except Exception as exc:
            # A bug in one writer's statements fails that writer alone; the others commit.
            pending.error = exc
            if not shared:
                rollback()
                return False
            conn.execute("ROLLBACK TO one_writer")
        if shared:
            conn.execute("RELEASE one_writer")
    return True


@dataclasses.dataclass(frozen=True, slots=True)
class Change:
    """One job's change: its new state (`None`: kept), the event's detail, the fields and the outbox rows."""

    job: Job
    to: State | None
    detail: str
    fields: dict[str, Any]
    notices: Sequence[Notice] = ()


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]
