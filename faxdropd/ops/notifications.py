"""The notification outbox as the operator sees it: `status` shows the backlog, `queue` lists its rows.

Pending rows are work still to do, like a job not final; given-up rows (kept 30 days) are the people who were
not told. Each listed row carries the keys of a `queue --json` job object, so a reader of that list that
only knows jobs still finds every key it reads; `kind` tells the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faxdropd.jobs.journal import Journal
from faxdropd.jobs.outbox import PENDING, Backlog, Notice, target_label


@dataclass(frozen=True)
class QueuedNotification:
    notification_id: str
    job_id: str | None
    state: str  # pending | gave_up
    event: str
    channel: str
    folder: str
    file: str | None
    to: list[str]
    age_seconds: float
    attempts: int
    reason: str | None  # the last failure, as the server gave it
    next_attempt_at: float | None


def listed(journal: Journal, now: float, folder: str | None = None) -> list[QueuedNotification]:
    return [_queued(n, now) for n in journal.outbox_unsettled() if folder is None or n.folder == folder]


def _queued(n: Notice, now: float) -> QueuedNotification:
    file = n.payload.get("file")
    return QueuedNotification(
        notification_id=n.id,
        job_id=n.job_id,
        state=n.state,
        event=n.event,
        channel=n.channel,
        folder=n.folder,
        file=str(file) if file else None,
        to=target_label(n),
        age_seconds=round(now - n.created_at, 1),
        attempts=n.attempts,
        reason=n.last_error,
        next_attempt_at=n.next_at if n.state == PENDING else None,
    )


def backlog_dict(backlog: Backlog, now: float) -> dict[str, Any]:
    """`status --json`'s "notifications"."""
    oldest = backlog.oldest_pending_at
    return {
        "pending": backlog.pending,
        "oldest_pending_age_s": round(now - oldest, 1) if oldest is not None else None,
        "given_up": backlog.given_up,
        "sent": backlog.sent,
    }
