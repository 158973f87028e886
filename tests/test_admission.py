"""`faxdropd explain` and the daemon's pipeline judge the same situation alike: hourly caps, the duplicate
window, a cover page that pushes a fax over pages_per_fax, and the plain case where the fax may go.

Each situation is set up once (config, journal history, files), then given to explain and to the pipeline
(in process, on a real journal, against the emulator); the verdicts must be equal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, write_config
from kit.journals import JournalBackend

from faxdropd.cli.explain import explain_file
from faxdropd.config import Config, load_config
from faxdropd.daemon.metrics import NullMetrics
from faxdropd.daemon.wiring import client_settings
from faxdropd.document.sample import make_sample_pdf
from faxdropd.interfax.client import ClientFactory
from faxdropd.jobs import intake
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Job, Journal, State, new_job_id
from faxdropd.jobs.pipeline import Pipeline
from faxdropd.jobs.runtime import Pause, Runtime

NUMBER = "+99999990"
DOCUMENT = make_sample_pdf(pages=2, text="the document")

# name: (limits, folder settings, earlier send: "same" content, "other" content or None, expected verdict)
SITUATIONS: dict[str, tuple[dict[str, Any], dict[str, Any], str | None, str]] = {
    "free": ({}, {}, None, "send"),
    "global hourly cap reached": ({"faxes_per_hour": 1}, {}, "other", "deferred"),
    "folder hourly cap reached": ({}, {"faxes_per_hour": 1}, "other", "deferred"),
    "duplicate within the window": ({"duplicate_window": "1h"}, {}, "same", "duplicate"),
    "duplicate window off": ({"duplicate_window": 0}, {}, "same", "send"),
    "cover page over pages_per_fax": ({"pages_per_fax": 2}, {"cover": 1}, None, "rejected"),
    "cover page within pages_per_fax": ({"pages_per_fax": 3}, {"cover": 1}, None, "send"),
}


@pytest.fixture
def situation(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    emulator: Any,
    monkeypatch: pytest.MonkeyPatch,
    journal_backend: JournalBackend,
) -> Iterator[tuple[Runtime, Path, str]]:
    limits, folder, earlier, expected = SITUATIONS[request.param]
    hot = tmp_path / "hot"
    hot.mkdir()
    settings: dict[str, Any] = {"path": str(hot), "to": NUMBER}
    if "faxes_per_hour" in folder:
        settings["faxes_per_hour"] = folder["faxes_per_hour"]
    if "cover" in folder:
        cover = tmp_path / "cover.pdf"
        cover.write_bytes(make_sample_pdf(pages=folder["cover"], text="cover"))
        settings["fax"] = {"cover_page": str(cover)}
    monkeypatch.setenv("FAXDROPD_TEST_PASSWORD", PASSWORD)
    path = write_config(
        tmp_path,
        emulator.url,
        [settings],
        extra={"delivery": {"track": False}, "limits": limits, **journal_backend.config_extra()},
    )
    cfg = load_config(path)
    journal = journal_backend.open(cfg.state_dir)
    if earlier is not None:
        sent_before(journal, cfg, hashlib.sha256(DOCUMENT if earlier == "same" else b"other").hexdigest())
    (hot / "doc.pdf").write_bytes(DOCUMENT)
    clients = ClientFactory(client_settings(cfg))
    yield (
        Runtime(config=cfg, journal=journal, clients=clients, metrics=NullMetrics(), pause=Pause(journal)),
        hot,
        expected,
    )
    clients.close()
    journal.close()


def sent_before(journal: Journal, cfg: Config, sha256: str) -> None:
    job_id = new_job_id()
    job = journal.create(
        Job(
            id=job_id,
            reference=f"fd-{job_id}",
            folder=cfg.folders[0].name,
            hot=str(cfg.folders[0].path),
            name="earlier.pdf",
            work_path="/nonexistent",
            sidecar_path=None,
            state=State.CLAIMED,
        )
    )
    journal.transition(
        job, State.SUBMITTED, "test", sha256=sha256, numbers=[NUMBER], submitted_at=time.time() - 60, attempts=1
    )


def explain_verdict(lines: list[str]) -> str:
    if any("REJECTED" in line for line in lines):
        return "rejected"
    if any(line.startswith("duplicate:   YES") for line in lines):
        return "duplicate"
    if any(line.startswith("hourly cap:") and "held back" in line for line in lines):
        return "deferred"
    assert any(line.startswith("outcome:     would be sent") for line in lines), lines
    return "send"


def pipeline_verdict(job: Job) -> str:
    if job.state is State.DEFERRED:
        return "deferred"
    if job.state is State.FAILED and job.reason == "duplicate":
        return "duplicate"
    if job.state is State.REJECTED:
        return "rejected"
    # Untracked delivery: accepted by InterFAX is as far as the daemon follows it.
    assert job.state in (State.SUBMITTED, State.DELIVERED), (job.state, job.reason)
    return "send"


@pytest.mark.parametrize("situation", list(SITUATIONS), indirect=True)
def test_explain_and_the_pipeline_agree(situation: tuple[Runtime, Path, str]) -> None:
    rt, hot, expected = situation
    lines, _code = explain_file(rt.config, hot / "doc.pdf")
    said = explain_verdict(lines)
    folder = rt.config.folders[0]
    [job] = intake.claim_batch(rt.journal, [(folder, hot / "doc.pdf")])
    Pipeline(rt, Finisher(rt)).process(job, folder)
    done = rt.journal.get(job.id)
    assert done is not None
    assert (said, pipeline_verdict(done)) == (expected, expected), (lines, done.reason)
