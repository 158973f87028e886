"""The one definition of "queued" and "in flight", shared by `faxdropd status` and the metrics.

Both used to count on their own: the metrics took the worker pool's numbers and left out faxes InterFAX had
accepted but not yet delivered, so `status` said 3 in flight while `faxdropd_in_flight` said 0. Both now count
journal states through :func:`queue_figures`, from one `GROUP BY state` (an index scan, cheap at any size).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from faxdropd.jobs.schema import State

# Waiting for a worker: claimed and not started, or held back until a retry / the send window / the cap.
QUEUED = (State.CLAIMED, State.DEFERRED)
# Handed to InterFAX or on the way there: uploading, submitting, waiting for delivery, or being reconciled.
IN_FLIGHT = (State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.UNKNOWN)


@dataclass(frozen=True)
class QueueFigures:
    queued: int
    in_flight: int


def queue_figures(counts: Mapping[str, int]) -> QueueFigures:
    """`counts` is `Journal.counts()` (jobs by state)."""
    return QueueFigures(
        queued=sum(counts.get(str(s), 0) for s in QUEUED),
        in_flight=sum(counts.get(str(s), 0) for s in IN_FLIGHT),
    )


def journal_figures(journal: Any) -> dict[str, Any]:
    """Journal size and oldest kept job for `status` (a read-only or the daemon's Journal).

    `size_bytes` counts the database, its WAL and shared-memory file; `free_pages` is what an incremental
    vacuum could still give back; `oldest_job_at` is the creation time (Unix seconds) of the oldest job kept.
    """
    return {
        "size_bytes": journal.size_bytes(),
        "free_pages": journal.free_pages(),
        "oldest_job_at": journal.oldest_job(),
    }
