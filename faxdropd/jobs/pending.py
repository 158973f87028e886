"""One writer's place in the journal's group commit (jobs/journal.py:Journal._write), one job's change for a
batch of them (Journal.change_many), and new job ids."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

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
