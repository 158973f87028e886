"""`status`: the journal's summary, whether the daemon runs, and whether anything needs the operator.

Degraded (status exits 1) means: sending paused, a hot folder unreachable, or a job failed or was rejected
in the last hour. What cannot be told (no journal) is the caller's NoJournal.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from faxdropd.config import Config
from faxdropd.jobs import controls, leases
from faxdropd.jobs.figures import IN_FLIGHT, journal_figures, queue_figures
from faxdropd.jobs.journal import Job, Journal, State
from faxdropd.jobs.outbox import Backlog
from faxdropd.ops.journal import DaemonState
from faxdropd.ops.notifications import backlog_dict

RECENT_FAILURES = 3600.0  # a failure this recent makes the status degraded


@dataclass(frozen=True)
class Status:
    now: float
    daemon: DaemonState
    counts: dict[str, int]
    oldest_pending: float | None
    in_flight: list[Job]
    failures: list[Job]
    paused: str | None
    paused_until: float
    holds: controls.Holds
    folders_down: list[str]
    stored: dict[str, Any]  # journal size and oldest kept job (jobs/figures.py)
    notifications: Backlog  # the notification outbox
    instances: list[leases.InstanceView] = field(default_factory=list)  # a shared journal's hosts

    @property
    def failures_last_hour(self) -> int:
        return sum(1 for j in self.failures if self.now - j.updated_at <= RECENT_FAILURES)

    @property
    def degraded(self) -> list[str]:
        """Why the daemon needs attention, one sentence each; empty when all is well."""
        found: list[str] = []
        if self.paused:
            found.append(f"sending paused: {self.paused}")
        if self.folders_down:
            found.append(f"folder unreachable: {', '.join(self.folders_down)}")
        if self.failures_last_hour:
            found.append(f"{self.failures_last_hour} failed in the last hour")
        return found


def read_status(cfg: Config, journal: Journal, daemon: DaemonState, now: float | None = None) -> Status:
    now = time.time() if now is None else now
    until = float(journal.get_meta("paused_until") or 0)
    return Status(
        now=now,
        daemon=daemon,
        counts=journal.counts(),
        oldest_pending=journal.oldest_pending(),
        in_flight=journal.by_state(*IN_FLIGHT),
        failures=journal.recent((State.FAILED, State.REJECTED), 10),
        paused=journal.get_meta("paused_reason") if until > now else None,
        paused_until=until,
        holds=journal.read(controls.read_holds),
        # Seen from here, not from the daemon: a folder this process cannot reach is worth a look either way.
        folders_down=[f.name for f in cfg.folders if not f.path.is_dir()],
        stored=journal_figures(journal),
        notifications=journal.outbox_backlog(),
        instances=leases.overview(journal) if journal.shared else [],
    )


def as_dict(status: Status) -> dict[str, Any]:
    """The JSON of `status --json`; earlier keys are kept as they were."""
    from datetime import UTC, datetime

    def iso(epoch: float | None) -> str | None:
        return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch else None

    now = status.now
    return {
        "states": status.counts,
        "total": sum(status.counts.values()),
        "paused": status.paused,
        "paused_until": iso(status.paused_until) if status.paused else None,
        "oldest_pending_age_s": round(now - status.oldest_pending, 1) if status.oldest_pending else None,
        "daemon": {"running": status.daemon.running, "pid": status.daemon.pid, "since": iso(status.daemon.since)},
        "held_jobs": sorted(status.holds.jobs),
        "held_folders": sorted(status.holds.folders),
        "folders_down": status.folders_down,
        "failures_last_hour": status.failures_last_hour,
        "degraded": status.degraded,
        "queued": queue_figures(status.counts).queued,
        "notifications": backlog_dict(status.notifications, now),
        "journal": {"size_bytes": status.stored["size_bytes"], "oldest_job": iso(status.stored["oldest_job_at"])},
        "in_flight": [
            {
                "job_id": j.id,
                "file": j.name,
                "folder": j.folder,
                "state": str(j.state),
                "age_s": round(now - j.created_at, 1),
                "transaction_ids": j.transaction_ids,
            }
            for j in status.in_flight
        ],
        "instances": [asdict(i) for i in status.instances],
        "recent_failures": [
            {
                "job_id": j.id,
                "file": j.name,
                "folder": j.folder,
                "outcome": j.outcome,
                "status": j.status,
                "reason": j.reason,
                "filed": j.final_path,
                "at": iso(j.updated_at),
            }
            for j in status.failures
        ],
    }
