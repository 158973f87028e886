"""A job whose outcome is decided but not filed yet (its share went down in between) is never processed again.

finish() commits the outcome, then files the document; when the share is down the filing is postponed and the
job keeps its state (e.g. `deferred` after a give-up). The refile pass owns it from then on: handing it to a
worker again would start the send of a document already given up on, or overwrite its outcome.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from daemonkit import PASSWORD, write_config
from kit.journals import JournalBackend

from faxdropd.config import load_config
from faxdropd.daemon.mainloop import MainLoop
from faxdropd.daemon.workers import WorkerPool
from faxdropd.jobs.controls import Holds
from faxdropd.jobs.journal import Job, State, new_job_id


def _job(hot: Path, name: str) -> Job:
    job_id = new_job_id()
    work = hot / ".faxdropd" / f"{job_id}__{name}"
    return Job(
        id=job_id, reference=f"fd-{job_id}", folder="hot", hot=str(hot), name=name, work_path=str(work),
        sidecar_path=None, state=State.CLAIMED,
    )  # fmt: skip


def test_only_undecided_deferred_jobs_are_scheduled(tmp_path: Path, journal_backend: JournalBackend) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    config = write_config(tmp_path, "http://127.0.0.1:9/dfs.asmx", [{"path": str(hot), "to": "+99999990"}])
    # Only the scheduling step is under test: a loop with the config, the journal and an unstarted pool.
    loop = MainLoop.__new__(MainLoop)
    loop.cfg = load_config(config, env={"FAXDROPD_TEST_PASSWORD": PASSWORD})
    loop.pool = WorkerPool(1, 4, handle=lambda jobs: None, on_done=lambda: None)
    journal = journal_backend.open(tmp_path / "state")
    try:
        waiting, decided = journal.create_many([_job(hot, "waiting.pdf"), _job(hot, "decided.pdf")])
        journal.transition(waiting, State.DEFERRED, "transient", next_attempt_at=0.0)
        decided = journal.transition(decided, State.DEFERRED, "transient", next_attempt_at=0.0)
        journal.transition(decided, State.DEFERRED, "outcome failed", outcome="failed", reason="gave up")
        loop.rt = SimpleNamespace(journal=journal)  # type: ignore[assignment]
        loop.controls = SimpleNamespace(holds=lambda: Holds({}, {}))  # type: ignore[assignment]
        loop._schedule_due()
        assert loop.pool.pending == 1
        assert loop.pool.holds(waiting.id) and not loop.pool.holds(decided.id)
    finally:
        journal.close()
