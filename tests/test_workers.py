"""The daemon's worker pool and signal flags, in-process with real threads (the whole daemon: test_service.py)."""

from __future__ import annotations

import signal
import threading

from faxdropd.daemon.signals import SignalFlags
from faxdropd.daemon.workers import WorkerPool, join_within
from faxdropd.jobs.journal import Job, State

WAIT = 30.0  # an upper bound that only a broken pool reaches


def job(n: int) -> Job:
    return Job(id=f"j{n}", reference=f"fd-j{n}", folder="f", hot="/h", name="a.pdf", work_path="/w",
               sidecar_path=None, state=State.CLAIMED)  # fmt: skip


class Gate:
    """A handler that reports each job it starts and holds it until released."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.calls: list[list[str]] = []
        self.release = threading.Event()
        self._cv = threading.Condition()

    def __call__(self, jobs: list[Job]) -> None:
        with self._cv:
            self.started += [j.id for j in jobs]
            self.calls.append([j.id for j in jobs])
            self._cv.notify_all()
        self.release.wait(WAIT)

    def wait_started(self, n: int) -> None:
        with self._cv:
            assert self._cv.wait_for(lambda: len(self.started) >= n, WAIT), self.started


def test_a_job_is_queued_once_and_room_is_the_capacity_left() -> None:
    gate = Gate()
    done = threading.Event()
    pool = WorkerPool(1, capacity=3, handle=gate, on_done=done.set)
    pool.start()
    pool.submit(job(1))
    gate.wait_started(1)
    pool.submit(job(1))  # running already: not queued again
    pool.submit(job(2))
    assert (pool.busy, pool.pending, pool.room()) == (1, 2, 1)
    assert pool.holds("j1") and pool.holds("j2")
    gate.release.set()
    gate.wait_started(2)
    assert done.wait(WAIT)
    pool.close()
    assert pool.drain(WAIT, abort=lambda: False) == 0
    assert gate.started == ["j1", "j2"]


def test_close_drops_the_queue_and_drain_waits_for_the_job_in_flight() -> None:
    gate = Gate()
    pool = WorkerPool(1, capacity=4, handle=gate, on_done=lambda: None)
    pool.start()
    pool.submit(job(1))
    gate.wait_started(1)
    pool.submit(job(2))
    pool.close()
    pool.submit(job(3))  # no work is taken after close
    assert not pool.holds("j2") and not pool.holds("j3")
    # Within a grace that runs out, the upload in flight is left behind; released, it finishes.
    assert pool.drain(0.0, abort=lambda: False) == 1
    gate.release.set()
    assert pool.drain(WAIT, abort=lambda: False) == 0
    assert gate.started == ["j1"]


def test_drain_stops_waiting_as_soon_as_it_is_aborted() -> None:
    gate = Gate()
    pool = WorkerPool(1, capacity=4, handle=gate, on_done=lambda: None)
    pool.start()
    pool.submit(job(1))
    gate.wait_started(1)
    pool.close()
    # A grace far beyond the test's own bound: only the abort can end the wait in time.
    assert pool.drain(3600.0, abort=lambda: True) == 1
    gate.release.set()
    assert join_within(pool.threads, WAIT, abort=lambda: False) == 0


def test_a_batch_pool_hands_over_what_waits_up_to_its_batch() -> None:
    """The filing thread's pool: each call takes every job queued by then (at most `batch`), in order."""
    gate = Gate()
    done = threading.Semaphore(0)
    pool = WorkerPool(1, capacity=10, handle=gate, on_done=done.release, batch=3)
    pool.start()
    pool.submit(job(1))
    gate.wait_started(1)
    for n in range(2, 7):
        pool.submit(job(n))
    assert (pool.busy, pool.pending) == (1, 6)
    gate.release.set()
    gate.wait_started(6)
    for _ in range(3):
        assert done.acquire(timeout=WAIT)
    assert gate.calls == [["j1"], ["j2", "j3", "j4"], ["j5", "j6"]]
    assert (pool.busy, pool.pending) == (0, 0)
    pool.close()
    assert pool.drain(WAIT, abort=lambda: False) == 0


def test_signals_only_set_flags() -> None:
    flags = SignalFlags()
    flags.handle(signal.SIGHUP, None)
    flags.handle(signal.SIGHUP, None)
    assert (flags.should_exit, flags.force_exit) == (False, False)
    assert flags.take_reload() and not flags.take_reload()  # two SIGHUPs before the loop looked: one reload
    flags.handle(signal.SIGTERM, None)
    assert (flags.should_exit, flags.force_exit, flags.last_signal) == (True, False, "SIGTERM")
    flags.handle(signal.SIGINT, None)
    assert flags.force_exit and flags.last_signal == "SIGINT"
