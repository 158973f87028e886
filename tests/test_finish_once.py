"""A job is filed and announced once, though the tracker and the main loop's refile pass both reach for it.

The tracker records a poll round's outcomes, then files them; every five seconds the main loop's refile pass
reads the jobs that have an outcome and are not final, which includes those the tracker is filing at that
moment. Before this was guarded, 96 of 600 faxes of the CPU benchmark were announced `job.delivered` twice
(and counted twice in the metrics).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, write_config
from kit.journals import JournalBackend

from faxdropd.config import load_config
from faxdropd.daemon.metrics import NullMetrics
from faxdropd.daemon.wiring import client_settings
from faxdropd.files import filing
from faxdropd.interfax.client import ClientFactory
from faxdropd.jobs import finish
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import FINAL, Job, Journal, Outcome, State, new_job_id
from faxdropd.jobs.pending import Change
from faxdropd.jobs.runtime import Pause, Runtime


class CountingMetrics(NullMetrics):
    def __init__(self) -> None:
        self.finished: list[str] = []

    def job_finished(self, folder: str, outcome: str, pages: int | None = None) -> None:
        self.finished.append(outcome)


def _delivered_not_filed(journal: Journal, hot: Path, folder: str) -> Job:
    """A job as the refile pass reads it: outcome recorded, document still in the work area."""
    (hot / "doc.pdf").write_bytes(b"%PDF-1.4 delivered\n")
    job_id = new_job_id()
    work = filing.claim(hot / "doc.pdf", hot, job_id)
    assert work is not None
    job = journal.create(
        Job(id=job_id, reference=f"fd-{job_id}", folder=folder, hot=str(hot), name="doc.pdf", work_path=str(work),
            sidecar_path=None, state=State.SUBMITTED, transaction_ids=[1])
    )  # fmt: skip
    [recorded] = journal.change_many([Change(job, None, "outcome delivered", {"outcome": Outcome.DELIVERED})])
    assert recorded is not None
    return recorded


@dataclasses.dataclass
class Scene:
    """A job the tracker is about to file (`job`) and the refile pass's copy of it read just before (`snapshot`)."""

    journal: Journal
    metrics: CountingMetrics
    finisher: Finisher
    job: Job
    snapshot: Job


@pytest.fixture
def scene(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch, journal_backend: JournalBackend
) -> Iterator[Scene]:
    hot = tmp_path / "hot"
    hot.mkdir()
    monkeypatch.setenv("FAXDROPD_TEST_PASSWORD", PASSWORD)
    cfg = load_config(write_config(tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}]))
    journal = journal_backend.open(cfg.state_dir)
    metrics = CountingMetrics()
    rt = Runtime(config=cfg, journal=journal, clients=ClientFactory(client_settings(cfg)), metrics=metrics,
                 pause=Pause(journal))  # fmt: skip
    try:
        job = _delivered_not_filed(journal, hot, cfg.folders[0].name)
        yield Scene(journal, metrics, Finisher(rt), job, dataclasses.replace(job))
    finally:
        rt.clients.close()
        journal.close()


def test_a_stale_snapshot_of_a_filed_job_is_not_filed_again(scene: Scene) -> None:
    scene.finisher.refile_many([scene.job], resume=False)  # the tracker
    scene.finisher.refile(scene.snapshot)  # the refile pass, with what it read before the tracker filed the job
    assert scene.metrics.finished == ["delivered"]
    events = scene.journal.events(scene.job.id)
    assert len([e for e in events if str(e.get("detail", "")).startswith("filed")]) == 1, events


def test_a_job_being_filed_by_one_thread_is_left_to_it(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    sync_dirs = filing.sync_dirs
    seen: list[bool] = []

    def meanwhile(paths: Any) -> None:
        # The tracker has moved the document and not yet committed the final state: the refile pass runs.
        sync_dirs(paths)
        if not seen:
            seen.append(True)
            scene.finisher.refile(scene.snapshot)

    monkeypatch.setattr(finish.filing, "sync_dirs", meanwhile)
    scene.finisher.refile_many([scene.job], resume=False)
    assert seen
    assert scene.metrics.finished == ["delivered"]
    fresh = scene.journal.get(scene.job.id)
    assert fresh is not None and fresh.state in FINAL
