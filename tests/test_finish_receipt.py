"""A receipt always names the bytes it sits beside, even when the job ended before pre-flight hashed them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, write_config
from kit.journals import JournalBackend

from faxdropd.config import load_config
from faxdropd.daemon.metrics import NullMetrics
from faxdropd.daemon.wiring import client_settings
from faxdropd.files import filing, fsutil
from faxdropd.interfax.client import ClientFactory
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Job, Outcome, State, new_job_id
from faxdropd.jobs.runtime import Pause, Runtime


def test_a_job_given_up_before_preflight_gets_the_hash_in_its_receipt(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch, journal_backend: JournalBackend
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    monkeypatch.setenv("FAXDROPD_TEST_PASSWORD", PASSWORD)
    cfg = load_config(write_config(tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}]))
    journal = journal_backend.open(cfg.state_dir)
    clients = ClientFactory(client_settings(cfg))
    try:
        data = b"%PDF-1.4 given up before anyone read it\n"
        (hot / "late.pdf").write_bytes(data)
        job_id = new_job_id()
        work = filing.claim(hot / "late.pdf", hot, job_id)
        assert work is not None
        job = journal.create(
            Job(
                id=job_id, reference=f"fd-{job_id}", folder=cfg.folders[0].name, hot=str(hot), name="late.pdf",
                work_path=str(work), sidecar_path=None, state=State.CLAIMED,
            )
        )  # fmt: skip
        rt = Runtime(config=cfg, journal=journal, clients=clients, metrics=NullMetrics(), pause=Pause(journal))
        Finisher(rt).finish(job, Outcome.FAILED, None, "gave up after 1 attempts: share unavailable")
        receipt = json.loads((cfg.folders[0].failed / "late.pdf.receipt.json").read_text())
        assert receipt["sha256"] == hashlib.sha256(data).hexdigest()
        assert receipt["size"] == len(data)
    finally:
        clients.close()
        journal.close()


def test_content_facts_never_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"not ours to read")
    (tmp_path / "link").symlink_to(target)
    assert fsutil.content_facts(tmp_path / "link") is None
    assert fsutil.content_facts(target) == (hashlib.sha256(b"not ours to read").hexdigest(), 16)
