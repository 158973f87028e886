"""The worker pool: the work queue, the threads that process it, and their drain at shutdown.

The main loop submits jobs (at most `capacity` waiting or running, its back-pressure on intake); each job
runs on one worker thread. At shutdown the pool stops taking work, drops what is queued (it stays in the
journal and resumes on the next start) and gives the uploads in flight a bounded time to finish.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

from faxdropd.jobs.journal import Job

# How often a drain looks at its abort condition while it waits for a worker.
DRAIN_SLICE = 0.1


class WorkerPool:
    def __init__(
        self,
        count: int,
        capacity: int,
        handle: Callable[[list[Job]], None],
        on_done: Callable[[], None],
        *,
        batch: int = 1,
    ) -> None:
        """`handle` runs on a worker thread with the next job, or with up to `batch` of the jobs queued by then;
        `on_done` is called after each call (room for more)."""
        self.capacity = capacity
        self._handle = handle
        self._batch = batch
        self._on_done = on_done
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._queued: set[str] = set()  # ids submitted and not finished, so a job is never queued twice
        self._busy = 0
        self._closed = False
        self.threads = [threading.Thread(target=self._work, name=f"worker-{n}", daemon=True) for n in range(count)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    @property
    def busy(self) -> int:
        """Jobs being processed right now."""
        return self._busy

    @property
    def pending(self) -> int:
        """Jobs submitted and not finished (queued or running)."""
        return len(self._queued)

    def room(self) -> int:
        return self.capacity - len(self._queued)

    def holds(self, job_id: str) -> bool:
        return job_id in self._queued

    def submit(self, job: Job) -> None:
        """Queue `job` unless it is queued or running already, or the pool no longer takes work."""
        with self._lock:
            if self._closed or job.id in self._queued:
                return
            self._queued.add(job.id)
        self._queue.put(job)

    def close(self) -> None:
        """Stop taking work: queued jobs are dropped (the journal keeps them) and every idle worker exits."""
        with self._lock:
            self._closed = True
        while True:
            try:
                dropped = self._queue.get_nowait()
            except queue.Empty:
                break
            if dropped is not None:
                with self._lock:
                    self._queued.discard(dropped.id)
        for _ in self.threads:
            self._queue.put(None)

    def drain(self, grace: float, abort: Callable[[], bool]) -> int:
        """Wait up to `grace` seconds for the jobs in flight, or until `abort()`; returns how many are left."""
        return join_within(self.threads, grace, abort)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._closed:
                return
            jobs, last = self._more([job])
            try:
                with self._lock:
                    self._busy += len(jobs)
                try:
                    self._handle(jobs)
                finally:
                    with self._lock:
                        self._busy -= len(jobs)
            finally:
                with self._lock:
                    self._queued.difference_update(j.id for j in jobs)
                self._on_done()
            if last:
                return

    def _more(self, jobs: list[Job]) -> tuple[list[Job], bool]:
        """Add what is queued already, up to the batch; True when the pool's stop signal came with them."""
        while len(jobs) < self._batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            jobs.append(job)
        return jobs, False


def join_within(threads: list[threading.Thread], grace: float, abort: Callable[[], bool]) -> int:
    """Join `threads` for at most `grace` seconds in all, giving up as soon as `abort()`; returns the living.

    Joined in slices because a signal handler only sets a flag: an operator's second SIGTERM must end the
    wait at once, not after the grace.
    """
    deadline = time.monotonic() + grace
    for thread in threads:
        while thread.is_alive() and not abort():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            thread.join(min(left, DRAIN_SLICE))
    return sum(thread.is_alive() for thread in threads)
