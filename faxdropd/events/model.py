"""The catalogue's record: an event's levels, meaning, fields and what an operator does about it."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["JOB", "NOTHING", "Event", "e"]


class Event(NamedTuple):
    levels: tuple[str, ...]  # the levels it is logged at (some events are an error in one case, a warning in another)
    meaning: str
    fields: tuple[str, ...]  # the keys it carries, besides timestamp, level, logger and event
    todo: str  # what an operator does about it, in one sentence


def e(levels: str, meaning: str, fields: str, todo: str) -> Event:
    """An entry: levels joined by "|", fields by spaces."""
    return Event(tuple(levels.split("|")), meaning, tuple(dict.fromkeys(fields.split())), todo)


JOB = "job_id folder file reference"  # bound for the whole of a job's processing (jobs/pipeline.py)
NOTHING = "nothing: normal progress"
