"""The catalogue of log events: every event name faxdropd emits, its level, its fields, and what to do about it.

Event names are dotted ``<subject>.<what happened>``, lower case and stable: operators grep and alert on them,
so a name changes only with a note in CHANGELOG.md. Details go in keys, never in the event string. Levels say
what an event means for an operator: info is normal progress; warning, a document or a folder needs a person's
attention, or something degraded that recovers by itself; error (and exception, an error with its traceback),
the service cannot do its job without a person; critical, the daemon stops.

``tests/test_events.py`` holds this table and the code to each other: an event emitted but not listed, listed
but never emitted, emitted at another level or with a key not listed here fails the suite. ``docs/EVENTS.md``
is generated from it: ``python -m faxdropd.events --markdown > docs/EVENTS.md`` (a test compares the two).
"""

from __future__ import annotations

from faxdropd.events.jobs import JOB_EVENTS
from faxdropd.events.leases import LEASE_EVENTS
from faxdropd.events.model import Event
from faxdropd.events.service import SERVICE_EVENTS

__all__ = ["EVENTS", "Event"]

EVENTS: dict[str, Event] = {**JOB_EVENTS, **SERVICE_EVENTS, **LEASE_EVENTS}
