"""Third-party debug chatter stays out of a debug log unless `log.libraries: debug` asks for it (issue #16)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from daemonkit import DaemonProcess, drop, receipts, wait_for, write_config
from test_scrub import _run

from faxdropd.document.sample import make_sample_pdf


def _debug_run(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], log: dict[str, str]) -> list[str]:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}], extra={"log": log})
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    drop(hot, "a.pdf", make_sample_pdf(text="chatter"))
    wait_for(lambda: receipts(hot / "sent"), 60, what="delivery")
    assert d.stop() == 0
    events = d.events()
    assert any(e.get("level") == "debug" and e.get("logger", "").startswith("faxdropd") for e in events)
    return [str(e.get("logger")) for e in events if str(e.get("logger", "")).startswith("watchdog")]


def test_watchdog_is_quiet_at_debug_by_default(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    assert _debug_run(tmp_path, emulator, daemons, {"format": "json", "level": "debug"}) == []


def test_log_libraries_debug_lets_it_through(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    loggers = _debug_run(tmp_path, emulator, daemons, {"format": "json", "level": "debug", "libraries": "debug"})
    assert loggers  # watchdog's per-inotify-event lines ("in-event …")


@pytest.mark.parametrize("value", ["verbose", "error", 3])
def test_a_bad_value_is_refused_with_its_key_path(tmp_path: Path, value: object) -> None:
    (tmp_path / "hot").mkdir()
    proc = _run(tmp_path, {"password": "long-enough"}, "check-config", {}, log={"libraries": value})
    assert proc.returncode == 78, proc.stderr
    assert "log.libraries" in proc.stderr
