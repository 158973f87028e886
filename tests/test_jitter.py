"""Retry back-off and account pauses are jittered: jobs that failed together do not retry together."""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kit.journals import JournalBackend

from faxdropd.config.model import RetryConfig
from faxdropd.jobs import jitter
from faxdropd.jobs.journal import Job, State
from faxdropd.jobs.pipeline import Pipeline
from faxdropd.jobs.runtime import Pause


def test_backoff_spreads_plus_minus_twenty_percent() -> None:
    rng = random.Random(1234)
    delays = [jitter.backoff(3, 30.0, 2.0, 3600.0, rng) for _ in range(2000)]
    assert min(delays) >= 96.0 and max(delays) <= 144.0  # 120 s ± 20%
    assert max(delays) - min(delays) > 40.0  # spread over (nearly) the whole 48 s band
    assert abs(statistics.mean(delays) - 120.0) < 2.0  # the schedule the config describes, on average
    assert len({round(d, 3) for d in delays}) > 1900


def test_backoff_at_the_cap_never_exceeds_it_and_still_spreads() -> None:
    rng = random.Random(7)
    delays = [jitter.backoff(20, 30.0, 2.0, 3600.0, rng) for _ in range(1000)]
    assert max(delays) <= 3600.0 and min(delays) >= 2880.0
    assert statistics.pstdev(delays) > 100.0


def test_pauses_only_get_longer() -> None:
    rng = random.Random(99)
    lengths = [jitter.pause_length(3600.0, rng) for _ in range(1000)]
    assert min(lengths) >= 3600.0 and max(lengths) <= 4320.0 and statistics.pstdev(lengths) > 100.0
    after = [jitter.after_pause(1000.0 + 600.0, 1000.0, rng) for _ in range(1000)]
    assert min(after) >= 1600.0 and max(after) <= 1720.0 and statistics.pstdev(after) > 20.0


def test_retry_later_defers_jobs_that_failed_together_to_different_moments() -> None:
    deferred: list[float] = []

    def defer(job: Job, until: float, reason: str, **fields: Any) -> Job:
        deferred.append(until)
        return job

    rt: Any = SimpleNamespace(
        config=SimpleNamespace(retry=RetryConfig(initial=30.0, factor=2.0, cap=3600.0, lifetime=86400.0), workers=1),
        journal=SimpleNamespace(defer=defer),
    )
    pipeline = Pipeline(rt, finisher=None)  # type: ignore[arg-type]
    pipeline.rng = random.Random(42)
    for i in range(200):  # an outage: 200 jobs hit the same transient error at the same second
        job = Job(
            id=f"j{i}",
            reference="r",
            folder="f",
            hot="/h",
            name="n",
            work_path="/w",
            sidecar_path=None,
            state=State.UPLOADING,
            attempts=2,
            created_at=time.time(),
        )
        pipeline.retry_later(job, "InterFAX busy")
    spread = max(deferred) - min(deferred)
    assert spread > 0.3 * 120.0  # 120 s ± 20%: spread over most of the 48 s band, not one instant


def test_an_account_pause_is_jittered(tmp_path: Path, journal_backend: JournalBackend) -> None:
    journal = journal_backend.open(tmp_path, exit_on_failure=False)
    try:
        ends = []
        for seed in range(20):
            pause = Pause(journal)
            pause.clear()
            pause.rng = random.Random(seed)
            before = time.time()
            pause.set("blocked", 600.0)
            ends.append(pause.until - before)
        assert min(ends) >= 600.0 and max(ends) <= 720.0 + 1 and statistics.pstdev(ends) > 10.0
    finally:
        journal.close()
