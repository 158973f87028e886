"""Levels by meaning, from the real daemon's log: progress is info, a document a person must look at is a warning,
a service that cannot send without a person is an error (issue #16)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import structlog
import yaml
from daemonkit import DaemonProcess, arm_fault, drop, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf
from faxdropd.events import EVENTS
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.runtime import Pause


def levels(d: DaemonProcess, event: str) -> list[str]:
    return [str(e["level"]) for e in d.events() if e.get("event") == event]


def test_outcomes_reloads_and_an_account_lockout_are_logged_at_their_meaning(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    good, busy = tmp_path / "good", tmp_path / "busy"
    good.mkdir()
    busy.mkdir()
    folders = [{"path": str(good), "to": "+99999990"}, {"path": str(busy), "to": "+99999996017"}]
    cfg = write_config(tmp_path, emulator.url, folders)
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    drop(good, "ok.pdf", make_sample_pdf(text="ok"))
    drop(good, "fake.pdf", b"\x89PNG\r\n\x1a\n" + bytes(100))  # a PNG named .pdf: rejected
    drop(busy, "busy.pdf", make_sample_pdf(text="busy"))
    wait_for(lambda: len(receipts(good / "sent")) == 1, 60, what="the delivery")
    wait_for(lambda: len(receipts(good / "failed")) == 1, 60, what="the rejection")
    wait_for(lambda: len(receipts(busy / "failed")) == 1, 60, what="the failure")
    assert levels(d, "job.delivered") == ["info"]
    assert levels(d, "job.rejected") == ["warning"]
    assert levels(d, "job.failed") == ["warning"]

    # A reload whose every change applies is progress; one that leaves a change for a restart is a warning.
    d.signal(signal.SIGHUP)
    wait_for(lambda: levels(d, "daemon.reloaded"), 30, what="the first reload")
    data = yaml.safe_load(cfg.read_text())
    data["workers"] = 2  # chosen at start: needs a restart
    cfg.write_text(yaml.safe_dump(data))
    d.signal(signal.SIGHUP)
    wait_for(lambda: len(levels(d, "daemon.reloaded")) == 2, 30, what="the second reload")
    assert levels(d, "daemon.reloaded") == ["info", "warning"]

    # InterFAX refuses the credentials: nothing can be sent until a person fixes them.
    arm_fault(emulator, op="SendfaxEx_2", kind="error", code=-1003, count=-1)
    drop(good, "locked.pdf", make_sample_pdf(text="locked"))
    wait_for(lambda: levels(d, "account.paused"), 60, what="the account pause")
    assert levels(d, "account.paused") == ["error"]


def test_the_end_of_an_account_pause_is_progress(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state", exit_on_failure=False)
    try:
        pause = Pause(journal)
        with structlog.testing.capture_logs() as logs:
            pause.set("authentication failed", 600)
            pause.clear()
    finally:
        journal.close()
    assert [(e["event"], e["log_level"]) for e in logs] == [("account.paused", "error"), ("account.resumed", "info")]


def test_the_catalogue_says_the_same() -> None:
    assert EVENTS["job.failed"].levels == EVENTS["job.rejected"].levels == ("warning",)
    assert EVENTS["account.paused"].levels == ("error",)
    assert EVENTS["account.resumed"].levels == ("info",)
    assert "warning" in EVENTS["daemon.reloaded"].levels
