"""What the pipeline, the tracker and the daemon share: config, journal, clients, metrics, the account pause."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from faxdropd.config import Config, FolderConfig
from faxdropd.interfax.client import ClientFactory
from faxdropd.jobs import jitter, notices
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.leases import Leases
from faxdropd.jobs.outbox import Notice, insert
from faxdropd.jobs.schema import put_meta
from faxdropd.store.conn import Conn

log = structlog.get_logger(__name__)


class Pause:
    """An account-wide stop on sending (bad password, blocked user, no credit, TLS failure).

    Kept in the journal so a restart does not hammer InterFAX with the same failing login (-1876 blocks the
    user for an hour after repeated failures).
    """

    def __init__(self, journal: Journal, config: Callable[[], Config] | None = None) -> None:
        self._journal = journal
        self.config = config  # for the paused/resumed notifications; None: nobody is told (tools, tests)
        self._lock = threading.Lock()
        until = journal.get_meta("paused_until")
        self.until = float(until) if until else 0.0
        self.reason = journal.get_meta("paused_reason") or ""
        self.rng = random.Random()  # pause jitter; a test seeds its own

    def active(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.until

    def set(self, reason: str, seconds: float) -> None:
        """Pause sending for at least `seconds` (up to 20% more: jobs.jitter.pause_length)."""
        seconds = jitter.pause_length(seconds, self.rng)
        with self._lock:
            fresh = not self.active()
            # Told once per pause: one that merely expired (no send has succeeded since) is still the same one.
            told = self._notices("paused", reason) if not self.until else []
            self.until = max(self.until, time.time() + seconds)
            self.reason = reason
            self._store({"paused_until": str(self.until), "paused_reason": reason}, told)
        if fresh:
            log.error(
                "account.paused",
                reason=reason,
                resume_in_s=round(seconds),
                advice="all sending is paused; files wait in their folders",
            )

    def clear(self) -> None:
        with self._lock:
            if not self.until and not self.reason:
                # Not paused, and the journal already says so. Every successful send lands here; the two meta
                # writes were two of a fax's eight fsync'd journal transactions, serialised under its lock.
                return
            if self.until:
                log.info("account.resumed", reason=self.reason)
            told = self._notices("resumed", "") if self.until else []
            self.until = 0.0
            self.reason = ""
            self._store({"paused_until": None, "paused_reason": None}, told)

    def _notices(self, event: str, reason: str) -> list[Notice]:
        return notices.state_event(self.config(), event, reason=reason) if self.config is not None else []

    def _store(self, meta: dict[str, str | None], told: list[Notice]) -> None:
        """The pause's journal record and the notifications its change causes: one transaction, both or neither."""

        def apply(db: Conn) -> None:
            for key, value in meta.items():
                put_meta(db, key, value)
            insert(db, told, time.time(), self._journal.owner)

        self._journal.write("pause", apply)


@dataclass
class Runtime:
    config: Config
    journal: Journal
    clients: ClientFactory
    metrics: Any
    pause: Pause
    # This instance's leases on a shared journal (jobs/leases.py); None with SQLite, where nothing is shared.
    leases: Leases | None = None
    # Set by the pipeline at each submission: the tracker reads the submitted jobs only when one is new or one
    # of those it knows is due again, not twice a second whatever happens.
    submitted: threading.Event = field(default_factory=threading.Event)

    def folder(self, name: str) -> FolderConfig | None:
        for folder in self.config.folders:
            if folder.name == name:
                return folder
        return None
