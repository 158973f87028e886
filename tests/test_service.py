"""faxdropd as a service: the real daemon subprocess talking sd_notify to a real AF_UNIX socket, reloading on
SIGHUP, stopping on SIGTERM with an upload in flight, logging JSON, serving metrics, riding out a hot folder
that goes away. Against the real emulator on loopback, on real folders."""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import PASSWORD, DaemonProcess, documents, drop, ledger, receipts, wait_for, write_config
from daemonkit import arm_fault as fault
from daemonkit import emulator_admin as admin
from kit.sdnotify import NotifySocket

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def calls(emulator: Any, op: str) -> int:
    return sum(1 for c in ledger(emulator)["calls"] if c["op"] == op)


def events(d: DaemonProcess, name: str | None = None) -> list[dict[str, Any]]:
    return [e for e in d.events() if name is None or e.get("event") == name]


def assert_clean_log(d: DaemonProcess) -> None:
    """Every line is a JSON object with an event name, and none carries the password (plain or base64)."""
    import base64

    text = d.log_text()
    assert text
    for line in text.splitlines():
        assert isinstance(json.loads(line).get("event"), str), line
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text


def scrape(port: int) -> dict[str, float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def test_lifecycle_notify_reload_logs_and_metrics(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], notify: NotifySocket
) -> None:
    hot_a, hot_b = tmp_path / "a", tmp_path / "b"
    hot_a.mkdir()
    hot_b.mkdir()
    port = free_port()
    folder_a = {"path": str(hot_a), "to": "+99999990"}
    extra = {"metrics": {"listen": f"127.0.0.1:{port}"}}
    cfg = write_config(tmp_path, emulator.url, [folder_a], extra=extra)
    d = DaemonProcess(
        cfg, tmp_path / "daemon.log", env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": ""}
    )
    daemons.append(d)
    d.start()

    # Start-up: READY (with a STATUS), then watchdog pings every ~1 s from the main loop and STATUS updates.
    wait_for(lambda: notify.count("READY=1") == 1, 10, what="READY=1")
    wait_for(lambda: notify.count("WATCHDOG=1") >= 2, 15, what="two watchdog pings")
    assert notify.index("READY=1") == 0 < notify.index("WATCHDOG=1")  # nothing is announced before READY
    assert any(k.startswith("STATUS=") for k in notify.messages[0])
    status = [k for k in notify.lines() if k.startswith("STATUS=")]
    assert status and re.search(r"1 folder; \d+ waiting, \d+ in flight", status[-1]), status[-1:]

    # A delivery through the whole chain, logged step by step with stable event names.
    drop(hot_a, "one.pdf", make_sample_pdf(pages=1, text="lifecycle"))
    wait_for(lambda: receipts(hot_a / "sent"), 60, what="one.pdf delivered")
    [receipt] = receipts(hot_a / "sent")
    job_events = [e for e in d.events() if e.get("file") == "one.pdf" and str(e.get("event")).startswith("job.")]
    names = [e["event"] for e in job_events]
    steps = ["job.detected", "job.stable", "job.claimed", "job.uploading", "job.submitted", "job.delivered"]
    assert [n for n in names if n in steps] == steps, names
    for e in job_events:
        assert e["folder"] == "a"
        if e["event"] not in ("job.detected", "job.stable"):
            assert e["job_id"] == receipt["job_id"] and e["reference"] == receipt["reference"], e
    [submitted] = [e for e in job_events if e["event"] == "job.submitted"]
    assert submitted["transaction_id"] == receipt["transaction_ids"][0]

    # Metrics over HTTP on loopback after that delivery.
    m = wait_for(
        lambda: (s := scrape(port)).get('faxdropd_jobs_total{folder="a",outcome="delivered"}') and s,
        10,
        what="jobs_total in /metrics",
    )
    assert m['faxdropd_jobs_total{folder="a",outcome="delivered"}'] == 1
    sends = {k: v for k, v in m.items() if k.startswith('faxdropd_interfax_calls_total{operation="SendfaxEx_2"')}
    assert sum(sends.values()) == 1, sends
    assert any(k.startswith('faxdropd_interfax_calls_total{operation="FaxQuery') for k in m), sorted(m)
    assert m['faxdropd_folder_up{folder="a"}'] == 1
    assert m["faxdropd_upload_bytes_total"] == receipt["size"]

    # A good reload: a new folder gets watched; RELOADING=1 (with MONOTONIC_USEC) then READY=1 again.
    mark = len(notify.messages)
    write_config(tmp_path, emulator.url, [folder_a, {"path": str(hot_b), "to": "+99999990"}], extra=extra)
    d.signal(signal.SIGHUP)
    wait_for(lambda: notify.index("READY=1", notify.index("RELOADING=1", mark)) > 0, 10, what="reload done")
    reloading = notify.messages[notify.index("RELOADING=1", mark)]
    assert any(k.startswith("MONOTONIC_USEC=") for k in reloading)
    wait_for(lambda: events(d, "daemon.reloaded"), 5, what="daemon.reloaded")
    drop(hot_b, "two.pdf", make_sample_pdf(pages=1, text="new folder"))
    wait_for(lambda: receipts(hot_b / "sent"), 60, what="two.pdf delivered from the new folder")

    # A bad reload: the error is logged with its key path, the old config stays, READY=1 follows RELOADING=1.
    mark = len(notify.messages)
    bad: list[dict[str, Any]] = [folder_a, {"path": str(hot_b), "to": "+99999990", "fax": {"page_size": "A9"}}]
    write_config(tmp_path, emulator.url, bad, extra=extra)
    d.signal(signal.SIGHUP)
    wait_for(lambda: notify.index("READY=1", notify.index("RELOADING=1", mark)) > 0, 10, what="bad reload done")
    [failed] = wait_for(lambda: events(d, "daemon.reload_failed"), 5, what="daemon.reload_failed")
    assert "page_size" in failed["error"] and failed["level"] == "warning"
    drop(hot_b, "three.pdf", make_sample_pdf(pages=1, text="still watched"))
    wait_for(lambda: len(receipts(hot_b / "sent")) == 2, 60, what="three.pdf: folder b kept after a bad reload")
    assert d.proc is not None and d.proc.poll() is None

    # Stop: STOPPING=1 after everything else, exit 0.
    assert d.stop() == 0
    stopping = notify.index("STOPPING=1")
    assert stopping > notify.index("RELOADING=1", mark) > notify.index("WATCHDOG=1") > notify.index("READY=1") >= 0
    assert all(not k.startswith("READY=") for msg in notify.messages[stopping:] for k in msg)
    names = [e["event"] for e in d.events()]
    assert names[-1] == "daemon.stopped" and "daemon.stopping" in names
    assert_clean_log(d)


def _slow_upload_setup(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], seconds: float
) -> tuple[DaemonProcess, Path]:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+99999990"}],
        extra={"interfax": {"chunk_size": 100_000, "inline_max_bytes": 100_000}},
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    # Every chunk is held `seconds` before the emulator answers: a 5-chunk upload is in flight for a while.
    fault(emulator, op="UploadFileChunk", kind="latency", seconds=seconds, count=-1)
    drop(hot, "big.pdf", make_sample_pdf(pages=2, text="slow upload", pad_to=450_000))
    wait_for(lambda: calls(emulator, "UploadFileChunk") >= 1, 30, what="the upload under way")
    return d, hot


def test_sigterm_lets_the_upload_in_flight_finish_and_restart_delivers_it(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    d, hot = _slow_upload_setup(tmp_path, emulator, daemons, seconds=0.8)
    assert ledger(emulator)["submissions"] == []
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(60) == 0
    # The upload was finished and submitted after SIGTERM, and journaled: exactly one fax at InterFAX.
    [sub] = ledger(emulator)["submissions"]
    names = [e["event"] for e in d.events()]
    assert names.index("daemon.stopping") < names.index("job.submitted") < names.index("daemon.stopped")
    [stopping] = events(d, "daemon.stopping")
    [stopped] = events(d, "daemon.stopped")
    assert stopping["in_flight"] == 1 and stopped["abandoned"] == 0
    # The rest (tracking to delivery, filing) resumes at the next start, without sending again.
    d.start()
    wait_for(lambda: receipts(hot / "sent"), 60, what="delivery after restart")
    [r] = receipts(hot / "sent")
    assert r["reference"] == sub["job_id"] and r["outcome"] == "delivered"
    assert len(ledger(emulator)["submissions"]) == 1
    assert d.stop() == 0
    assert_clean_log(d)


def test_second_sigterm_exits_at_once_and_the_job_resumes(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    d, hot = _slow_upload_setup(tmp_path, emulator, daemons, seconds=3.0)
    d.signal(signal.SIGTERM)
    wait_for(lambda: events(d, "daemon.stopping"), 10, what="daemon.stopping")
    d.signal(signal.SIGTERM)
    assert d.proc is not None
    code = d.proc.wait(30)
    assert code != 0
    # It did not wait for the upload: nothing reached SendfaxEx_2.
    assert ledger(emulator)["submissions"] == []
    assert events(d, "daemon.exit_now") and not events(d, "daemon.stopped")
    requests.delete(admin(emulator, "faults"), timeout=5)
    d.start()
    wait_for(lambda: receipts(hot / "sent"), 60, what="delivery after the hard exit")
    assert len(ledger(emulator)["submissions"]) == 1
    assert [p.name for p in documents(hot / "sent")] == ["big.pdf"]
    assert_clean_log(d)


def test_hot_folder_that_goes_away_pauses_and_resumes(
    tmp_path: Path, daemons: list[DaemonProcess], notify: NotifySocket
) -> None:
    # Slow final status (4 s) so that a fax is still being tracked when its folder disappears.
    # A query budget above the 6/min default, so that tracking polls on throughout the status delay.
    with EmulatorServer(username="demo", password=PASSWORD, status_delay=4.0, query_limit=600) as emu:
        hot = tmp_path / "share"
        away = tmp_path / "share.offline"
        hot.mkdir()
        port = free_port()
        cfg = write_config(
            tmp_path,
            emu.url,
            [{"path": str(hot), "to": "+99999990", "name": "share"}],
            extra={"metrics": {"listen": f"127.0.0.1:{port}"}, "delivery": {"query_limit_per_minute": 600}},
        )
        d = DaemonProcess(cfg, tmp_path / "daemon.log", env={"NOTIFY_SOCKET": notify.path})
        daemons.append(d)
        d.start()
        drop(hot, "first.pdf", make_sample_pdf(pages=1, text="in flight when the share goes"))
        wait_for(lambda: events(d, "job.submitted"), 30, what="first.pdf submitted")

        hot.rename(away)  # the share goes away with its contents (and the document's work area)
        [down] = wait_for(lambda: events(d, "folder.down"), 15, what="folder.down")
        assert down["folder"] == "share" and down["reason"] == "missing"
        assert wait_for(lambda: scrape(port).get('faxdropd_folder_up{folder="share"}') == 0, 10, what="folder_up 0")
        # The fax is delivered while the share is gone: its filing waits, nothing is created at the path.
        wait_for(lambda: events(d, "job.filing_postponed"), 30, what="filing postponed")
        notify.wait_reports(4)  # full main-loop passes, a refile pass among them
        assert not hot.exists(), "nothing may be created where the share was"
        assert not events(d, "job.delivered") and not events(d, "job.work_missing")

        away.rename(hot)  # the share is back
        wait_for(lambda: events(d, "folder.up"), 15, what="folder.up")
        wait_for(lambda: receipts(hot / "sent"), 30, what="first.pdf filed once the share is back")
        drop(hot, "second.pdf", make_sample_pdf(pages=1, text="after the share came back"))
        wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="second.pdf delivered")
        assert sorted(p.name for p in documents(hot / "sent")) == ["first.pdf", "second.pdf"]
        assert len(ledger(emu)["submissions"]) == 2
        assert scrape(port)['faxdropd_folder_up{folder="share"}'] == 1
        assert d.stop() == 0
        assert_clean_log(d)


def test_watchdog_ping_is_withheld_while_a_thread_the_daemon_needs_is_dead(
    tmp_path: Path, notify: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The health check behind the daemon's WATCHDOG=1, with real threads, a real Watcher and a real socket:
    the main loop alone being alive is not enough (a dead tracker would leave every fax untracked)."""
    from faxdropd.daemon.health import Health
    from faxdropd.watch.watcher import Watcher, WatchSpec

    hot = tmp_path / "hot"
    hot.mkdir()
    monkeypatch.setenv("NOTIFY_SOCKET", notify.path)
    watcher = Watcher([WatchSpec(path=hot, name="hot", watch="events", stable_seconds=0.1)])
    watcher.start()
    stops = {name: threading.Event() for name in ("tracker", "worker")}
    threads = {name: threading.Thread(target=ev.wait, daemon=True) for name, ev in stops.items()}
    for t in threads.values():
        t.start()
    health = Health()
    health.tracker, health.workers, health.watcher = threads["tracker"], [threads["worker"]], watcher
    try:
        assert health.problem() == "" and health.ping()
        wait_for(lambda: notify.count("WATCHDOG=1") == 1, 5, what="a ping while healthy")

        stops["worker"].set()
        threads["worker"].join(5)
        assert "worker" in health.problem() and not health.ping()
        health.workers[0] = threading.Thread(target=stops["tracker"].wait, daemon=True)
        health.workers[0].start()

        observer = watcher._observer
        observer.stop()
        observer.join(5)
        assert "watcher" in health.problem() and not health.ping()
        watcher.ready()  # the watcher's own supervisor replaces a dead observer on its next cycle
        assert health.problem() == "" and health.ping()
        wait_for(lambda: notify.count("WATCHDOG=1") == 2, 5, what="pings again once healthy")

        stops["tracker"].set()
        threads["tracker"].join(5)
        assert "tracker" in health.problem() and not health.ping()
        notify.flush()  # whatever ping() sent has arrived
        assert notify.count("WATCHDOG=1") == 2  # nothing was sent while unhealthy
    finally:
        for ev in stops.values():
            ev.set()
        watcher.stop()
