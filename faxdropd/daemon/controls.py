"""The daemon's side of the operator's commands: apply them every pass, and keep held jobs from the workers.

One lock (the gate) orders a worker taking a job up against a command about that job: a worker checks the
holds and marks the job running under it, and a command is applied under it, skipping (for the next pass) a
job that is running. So a hold or cancel either lands before the worker looks, or waits until it is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from faxdropd.jobs import controls
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import RUNNABLE, Job, State
from faxdropd.jobs.runtime import Runtime
from faxdropd.ops.apply import Applier


class Controls:
    def __init__(self, rt: Runtime, finisher: Finisher, folders: Callable[[], set[str]]) -> None:
        self.rt = rt
        self._gate = threading.Lock()
        self._running: set[str] = set()
        self.applier = Applier(
            rt.journal,
            folders=folders,
            busy=lambda job_id: job_id in self._running,
            cancel_fax=lambda tid: rt.clients.client().cancel_fax(tid),
            refile=finisher.refile,
            guard=lambda: self._gate,
        )

    def holds(self) -> controls.Holds:
        return self.rt.journal.read(controls.read_holds)

    def step(self) -> list[Job]:
        """Apply pending commands; returns the jobs a release made runnable, for the pool."""
        released = self.applier.step()  # each command under the gate; filing and logging outside it
        jobs = [self.rt.journal.get(job_id) for job_id in released]
        holds = self.holds()
        now = time.time()
        return [
            j
            for j in jobs
            if j is not None
            and j.state in RUNNABLE
            and j.outcome is None
            and not holds.holds(j.id, j.folder)
            # A deferred job keeps its backoff or send window: the scheduler takes it when it is due.
            and not (j.state is State.DEFERRED and (j.next_attempt_at or 0.0) > now)
        ]

    @contextmanager
    def taking(self, job: Job) -> Iterator[bool]:
        """Around a worker's processing of `job`: yields False if the job (or its folder) is held."""
        with self._gate:
            if self.holds().holds(job.id, job.folder):
                held = True
            else:
                held = False
                self._running.add(job.id)
        try:
            yield not held
        finally:
            with self._gate:
                self._running.discard(job.id)
