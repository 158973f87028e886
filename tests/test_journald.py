"""Under journald, log records carry native fields (JOB_ID, REFERENCE, FOLDER, FILE, EVENT, PRIORITY) through the
journal's native protocol: a datagram socket standing in for /run/systemd/journal/socket reads them back
(issue #16). Without journald the log stays JSON lines on stderr."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from daemonkit import DaemonProcess, drop, receipts, wait_for, write_config

from faxdropd import log
from faxdropd.document.sample import make_sample_pdf
from faxdropd.log import journald, scrub


class Journal:
    """The journal's side of the native protocol: a bound AF_UNIX datagram socket, every datagram parsed."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(dir="/tmp")  # sun_path is 108 bytes: pytest's tmp_path can be longer
        self.path = os.path.join(self.dir, "journal.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.records: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.records.append(journald.parse(data))

    def events(self, name: str) -> list[dict[str, str]]:
        with self._lock:
            return [r for r in self.records if r.get("EVENT") == name]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def journal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Journal]:
    j = Journal()
    monkeypatch.setenv(journald.SOCKET_ENV, j.path)
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    yield j
    j.close()
    scrub.forget_secrets()
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_faxdropd", False)]:
        root.removeHandler(h)
        h.close()
    structlog.reset_defaults()


def stream_of(path: Path) -> str:
    st = path.stat()
    return f"{st.st_dev}:{st.st_ino}"


def test_the_native_protocol_round_trips_values_with_newlines() -> None:
    fields = [("MESSAGE", "one\ntwo"), ("EVENT", "job.failed"), ("ERROR", "a=b"), ("EMPTY", "")]
    data = journald.encode(fields)
    assert b"MESSAGE\n" + (7).to_bytes(8, "little") + b"one\ntwo\n" in data and b"EVENT=job.failed\n" in data
    assert journald.parse(data) == dict(fields)
    assert journald.field_name("job_id") == "JOB_ID" and journald.field_name("retry-in.s") == "RETRY_IN_S"
    assert journald.field_name("_private") == "PRIVATE" and journald.field_name("2fa") is None
    assert journald.field_name("message") is None  # MESSAGE is the rendered line, never an event key


def test_records_go_to_the_journal_and_a_too_large_one_to_stderr(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    err = tmp_path / "stderr"
    with err.open("w") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", stream_of(err))
        log.register_secret("Pa55-word-of-test")
        log.configure("json", "info", stream)
        log.get_logger().warning("job.rejected", job_id="J1", file="a\nb.pdf", reason="bad\nPa55-word-of-test")
        log.get_logger().info("job.detected", folder="big", blob="x" * 400_000)  # no datagram holds it
        wait_for(lambda: journal.events("job.rejected"), 10, what="the datagram")
    [rec] = journal.events("job.rejected")
    assert rec["PRIORITY"] == "4" and rec["SYSLOG_IDENTIFIER"] == "faxdropd" and rec["JOB_ID"] == "J1"
    assert rec["FILE"] == "a\\nb.pdf" and rec["REASON"] == "bad\n***"  # escaped name; a newline sent as binary
    assert json.loads(rec["MESSAGE"])["event"] == "job.rejected" and "LEVEL" not in rec
    text = err.read_text()
    assert text.startswith('<6>{"') and "job.detected" in text and "job.rejected" not in text
    assert "Pa55-word-of-test" not in text + json.dumps(journal.records)


def test_without_the_journal_stream_the_log_stays_json_lines(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")  # another stream: stderr was redirected away from journald
    err = tmp_path / "stderr"
    with err.open("w") as stream:
        log.configure("json", "info", stream)
        log.get_logger().info("job.detected", folder="a")
    assert json.loads(err.read_text())["event"] == "job.detected" and journal.records == []


def test_a_fax_lifecycle_in_the_journal(
    journal: Journal, tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": "+99999990"}])
    err = tmp_path / "daemon.log"
    err.touch()
    d = DaemonProcess(cfg, err)
    daemons.append(d)
    env = {"JOURNAL_STREAM": stream_of(err), journald.SOCKET_ENV: journal.path}
    d.start(wait=False, extra_env=env)
    wait_for(lambda: journal.events("daemon.ready"), 30, what="daemon.ready in the journal")
    drop(hot, "good.pdf", make_sample_pdf(text="journald"))
    drop(hot, "fake.pdf", b"\x89PNG\r\n\x1a\n" + bytes(100))  # rejected
    wait_for(lambda: journal.events("job.delivered") and journal.events("job.rejected"), 60, what="both filed")
    assert len(receipts(hot / "sent")) == 1 and len(receipts(hot / "failed")) == 1
    [delivered] = journal.events("job.delivered")
    job_id, reference = delivered["JOB_ID"], delivered["REFERENCE"]
    life = [r for r in journal.records if r.get("JOB_ID") == job_id]  # what `journalctl JOB_ID=…` shows
    assert {"job.claimed", "job.uploading", "job.submitted", "job.delivered"} <= {r["EVENT"] for r in life}
    for rec in life:
        assert rec["FOLDER"] == "hot" and rec["SYSLOG_IDENTIFIER"] == "faxdropd"
        assert rec["PRIORITY"] == "6"  # a delivered fax is progress from start to end
        assert json.loads(rec["MESSAGE"])["event"] == rec["EVENT"]
    assert {r["FILE"] for r in life if "FILE" in r} == {"good.pdf"} and reference.startswith("fd-")
    assert journal.events("job.claimed")[0]["REFERENCE"]
    [rejected] = journal.events("job.rejected")
    assert rejected["PRIORITY"] == "4" and rejected["FILE"] == "fake.pdf" and rejected["REASON"]
    assert d.stop() == 0
    wait_for(lambda: journal.events("daemon.stopped"), 10, what="daemon.stopped")
    assert '"event"' not in err.read_text()  # every record went to the journal, none to stderr
