"""Events of a shared journal's leases: renewals, take-overs and fencing (jobs/leases.py, jobs/takeover.py)."""

from __future__ import annotations

from faxdropd.events.model import NOTHING, Event
from faxdropd.events.model import e as _e

LEASE_EVENTS: dict[str, Event] = {
    "lease.taken_over": _e(
        "warning",
        "a job of an instance whose lease expired is now this instance's, and resumed",
        "job_id reference folder file state previous_owner",
        "find out why previous_owner stopped renewing (host down, database unreachable from it)",
    ),
    "lease.move_postponed": _e(
        "warning",
        "a taken-over job's work file could not be moved yet (its share is away)",
        "job_id reason",
        "bring the share back; the move is retried",
    ),
    "lease.fenced": _e(
        "warning",
        "no lease renewal for two thirds of journal_lease: this instance starts no submission",
        "silent_s lease_s",
        "check the database connection from this host",
    ),
    "lease.lost": _e(
        "warning",
        "another instance took over a job this one was working; it is dropped here and never resent",
        "reason",
        "check why this host's renewals stopped (a pause, the database connection)",
    ),
    "lease.pass": _e("info", "the lease keeper took over jobs whose leases expired", "taken", NOTHING),
    "lease.failed": _e(
        "exception",
        "an unexpected error in the lease keeper; it tries again next interval",
        "error",
        "a bug: report it with the traceback",
    ),
}
