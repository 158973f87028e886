"""The lease keeper: on a shared journal, a thread that renews this instance's leases and takes over expired ones.

Every third of `journal_lease` it renews (jobs/leases.py) and then takes over the jobs of instances that
stopped renewing (jobs/takeover.py); the scheduler and the tracker pick those up as this instance's own. A
renewal that cannot be committed ends the process (the journal's crash-only rule): a host cut off from the
database stops sending at once and, restarted, works only the jobs still its own.
"""

from __future__ import annotations

import threading

import structlog

from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.leases import Leases
from faxdropd.jobs.runtime import Runtime
from faxdropd.jobs.takeover import take_over

log = structlog.get_logger("faxdropd.daemon.leasing")


class LeaseKeeper:
    def __init__(self, rt: Runtime, finisher: Finisher) -> None:
        self.rt = rt
        self.finisher = finisher
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not self.rt.journal.shared:
            return  # SQLite: one instance, nothing to lease
        self.rt.leases = Leases(self.rt.journal)
        self._thread = threading.Thread(target=self._run, name="leases", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        leases = self.rt.leases
        assert leases is not None
        # Start-up recovery registers this instance (and renews its leases once) before anything is leased.
        while self.rt.journal.owner is None:
            if self.stopping.wait(0.05):
                return
        while not self.stopping.is_set():
            try:
                leases.renew()
                taken = take_over(self.rt, self.finisher)
                if taken:
                    log.info("lease.pass", taken=taken)
            except Exception as exc:  # a bug here must not end the renewals: fencing stops the sending anyway
                log.exception("lease.failed", error=str(exc))
            self.stopping.wait(leases.interval)

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
