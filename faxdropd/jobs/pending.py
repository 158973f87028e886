"""One writer's place in the journal's group commit (jobs/journal.py:Journal._write), and new job ids."""

from __future__ import annotations

import uuid
from collections.abc import Callable


class Pending:
    """One writer's statements waiting for the next group commit (Journal._write)."""

    __slots__ = ("apply", "done", "error", "what")

    def __init__(self, what: str, apply: Callable[[], None]) -> None:
        self.what, self.apply = what, apply
        self.done = False
        self.error: BaseException | None = None

    def result(self) -> None:
        if self.error is not None:
            raise self.error


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]
