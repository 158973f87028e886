"""Jobs owned through leases on the database's clock, for several instances on one shared journal.

Every job row names its `owner` (an instance id) and `lease_until`. The owner renews the leases of all its
unfinished jobs every third of `journal_lease`; a job whose lease ran out belongs to nobody, and the first
instance to take it (`FOR UPDATE SKIP LOCKED`: two takers never take the same row) becomes its owner. Only
the database's clock is read, so the hosts' clocks may disagree as they like.

Fencing: an owner that has not renewed for two thirds of a lease starts no submission (`Leases.check`, just
before SendfaxEx_2), so its last submission is over before anyone can take the job; and every change of a job
is guarded on the owner (jobs/journal.py:_change raises JobTaken), so a job taken meanwhile is never touched
again by the old owner. A renewal that cannot be committed ends the process like any failed journal write
(exit 74): the restart finds in the journal which jobs are still its own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from faxdropd.errors import ConfigError, Fenced
from faxdropd.jobs.journal import NOT_FINAL, Journal
from faxdropd.store import dialect
from faxdropd.store.conn import Conn

TAKE_BATCH = 100  # expired jobs taken in one transaction
_NOT_FINAL = [str(s) for s in NOT_FINAL]
_MARKS = ", ".join("?" for _ in NOT_FINAL)


def register(journal: Journal, name: str) -> None:
    """Enter this instance in `instances`; ConfigError if a live instance of that name runs elsewhere."""
    now = journal.database.now
    host, pid = socket.gethostname(), os.getpid()

    def apply(conn: Conn) -> str | None:
        row = conn.execute(
            f"SELECT host, pid, {now} - renewed_at FROM instances WHERE id = ?",  # noqa: S608
            (name,),
        ).fetchone()
        if row is not None and row[0] != host and float(row[2]) < journal.lease:
            return str(row[0])
        conn.execute(
            f"INSERT INTO instances (id, host, pid, started_at, renewed_at) VALUES (?, ?, ?, {now}, {now}) "  # noqa: S608
            f"ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, "
            f"started_at = excluded.started_at, renewed_at = excluded.renewed_at",
            (name, host, pid),
        )
        # Our jobs from before a restart become ours again at once, unless someone took them meanwhile.
        conn.execute(
            f"UPDATE jobs SET lease_until = {now} + {float(journal.lease)!r} "  # noqa: S608
            f"WHERE owner = ? AND state IN ({_MARKS})",
            [name, *_NOT_FINAL],
        )
        return None

    other = journal.write("register", apply)
    if other is not None:
        raise ConfigError(f"instance: {name} is in use by host {other} on the same journal", "instance")
    journal.owner = name


def _skip(journal: Journal) -> str:
    return dialect.SKIP_LOCKED[journal.database.kind]


def renew(journal: Journal) -> int:
    """Extend the leases of every unfinished job of ours; returns how many there are."""
    name, now, lease = journal.owner, journal.database.now, float(journal.lease)

    def apply(conn: Conn) -> int:
        conn.execute(f"UPDATE instances SET renewed_at = {now} WHERE id = ?", (name,))  # noqa: S608
        return conn.execute(
            f"UPDATE jobs SET lease_until = {now} + {lease!r} WHERE owner = ? AND state IN ({_MARKS})",  # noqa: S608
            [name, *_NOT_FINAL],
        ).rowcount

    return journal.write("renew", apply)


def take_expired(journal: Journal) -> list[tuple[str, str]]:
    """Become the owner of unfinished jobs whose lease ran out: (job id, previous owner), oldest first."""
    me, now, lease = journal.owner, journal.database.now, float(journal.lease)

    def apply(conn: Conn) -> list[tuple[str, str]]:
        rows = conn.execute(
            f"SELECT id, owner FROM jobs WHERE state IN ({_MARKS}) AND owner IS NOT NULL AND owner <> ? "  # noqa: S608
            f"AND lease_until < {now} ORDER BY created_at LIMIT {TAKE_BATCH}{_skip(journal)}",
            [*_NOT_FINAL, me],
        ).fetchall()
        taken = [(str(r[0]), str(r[1])) for r in rows]
        # The notifications a dead instance had not sent yet go with its jobs (an instance is dead to us when it
        # has not renewed for a lease).
        conn.execute(
            f"UPDATE outbox SET owner = ? WHERE state = 'pending' AND owner <> ? AND owner IN "  # noqa: S608
            f"(SELECT id FROM instances WHERE renewed_at < {now} - {lease!r})",
            (me, me),
        )
        for job_id, peer in taken:
            conn.execute(f"UPDATE jobs SET owner = ?, lease_until = {now} + {lease!r} WHERE id = ?", (me, job_id))  # noqa: S608
            conn.execute(
                f"INSERT INTO events (job_id, at, from_state, to_state, detail) "  # noqa: S608
                f"SELECT id, {now}, state, state, ? FROM jobs WHERE id = ?",
                (f"taken over from {peer}: its lease expired", job_id),
            )
        return taken

    return journal.write("take_over", apply)


def dead_peers(journal: Journal) -> list[str]:
    """Instances other than this one that have not renewed for a whole lease: their areas are nobody's now."""
    now, lease = journal.database.now, float(journal.lease)
    rows = journal.read(
        lambda conn: conn.execute(
            f"SELECT id FROM instances WHERE id <> ? AND renewed_at < {now} - {lease!r}",  # noqa: S608
            (journal.owner,),
        ).fetchall()
    )
    return [str(r[0]) for r in rows]


class Leases:
    """This instance's hold on its jobs: when it last renewed, and whether it may still submit."""

    def __init__(self, journal: Journal, clock: Callable[[], float] = time.monotonic) -> None:
        self.journal = journal
        self.clock = clock
        self.renewed = clock()

    @property
    def interval(self) -> float:
        return self.journal.lease / 3

    def renew(self) -> int:
        started = self.clock()  # the lease runs from the statement, so count from before it
        count = renew(self.journal)
        self.renewed = started
        return count

    def check(self) -> None:
        """Raise Fenced when a submission started now could outlive our leases (no renewal for 2/3 lease)."""
        silent = self.clock() - self.renewed
        if silent >= self.journal.lease * 2 / 3:
            # structlog here, on the daemon's one path that logs: `queue` reads the leases and starts without it.
            import structlog

            log = structlog.get_logger("faxdropd.jobs.leases")
            log.warning("lease.fenced", silent_s=round(silent, 1), lease_s=self.journal.lease)
            raise Fenced(f"no lease renewal for {silent:.0f}s: no submission starts")


@dataclass(frozen=True)
class InstanceView:
    """One instance of a shared journal as `status` and `queue` show it."""

    id: str
    host: str
    pid: int
    renewed_s_ago: float  # by the database's clock
    jobs: int  # unfinished jobs it owns


def overview(journal: Journal) -> list[InstanceView]:
    """Every instance registered in a shared journal, with its last renewal and the jobs it owns."""
    now = journal.database.now
    rows = journal.read(
        lambda conn: conn.execute(
            f"SELECT i.id, i.host, i.pid, {now} - i.renewed_at, "  # noqa: S608
            f"(SELECT COUNT(*) FROM jobs j WHERE j.owner = i.id AND j.state IN ({_MARKS})) "
            "FROM instances i ORDER BY i.id",
            _NOT_FINAL,
        ).fetchall()
    )
    return [InstanceView(str(r[0]), str(r[1]), int(r[2]), round(float(r[3]), 1), int(r[4])) for r in rows]
