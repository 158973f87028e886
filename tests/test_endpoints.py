"""The metrics listener's routes against a real daemon: /healthz, /readyz (ok, folder down, paused, journal
failing), /metrics alone, 404 elsewhere; and a scrape checked with prometheus-client's own parser."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, drop, receipts, wait_for, write_config
from kit.journals import JournalBackend
from kit.pg import PgCluster
from prometheus_client.parser import text_string_to_metric_families

from faxdropd.daemon.endpoints import Probes, Server, make_app
from faxdropd.daemon.metrics import Metrics
from faxdropd.document.sample import make_sample_pdf
from faxdropd.jobs.journal import Journal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, Any]:
    r = requests.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    return r.status_code, (r.json() if r.headers.get("Content-Type") == "application/json" else r.text)


def _daemon(
    tmp_path: Path, url: str, daemons: list[DaemonProcess], backend: JournalBackend | None = None, **env: str
) -> tuple[DaemonProcess, Path, int]:
    hot = tmp_path / "office"
    hot.mkdir()
    port = _free_port()
    cfg = write_config(
        tmp_path,
        url,
        [{"path": str(hot), "to": "+99999990", "name": "office"}],
        extra={"metrics": {"listen": f"127.0.0.1:{port}"}, **(backend.config_extra() if backend else {})},
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log", env=env)
    daemons.append(d)
    d.start()
    return d, hot, port


def test_ok_then_folder_down_then_journal_gone(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    _d, hot, port = _daemon(tmp_path, emulator.url, daemons)
    assert wait_for(lambda: _get(port, "/readyz")[0] == 200, 10, what="ready")
    assert _get(port, "/healthz") == (200, {"status": "ok"})
    assert _get(port, "/readyz") == (200, {"status": "ready", "causes": []})
    status, text = _get(port, "/metrics")
    assert status == 200 and "faxdropd_build_info" in text and "status" not in text.split("\n", 1)[0]
    assert _get(port, "/")[0] == 404
    assert _get(port, "/healthz/extra")[0] == 404
    assert _get(port, "/metricsx")[0] == 404

    hot.rename(tmp_path / "office.offline")  # the share goes away
    _code, body = wait_for(lambda: (r := _get(port, "/readyz"))[0] == 503 and r, 15, what="not ready")
    assert body["causes"] == ["folder office is down"]
    assert _get(port, "/healthz")[0] == 200  # liveness never depends on the shares

    (tmp_path / "office.offline").rename(hot)
    wait_for(lambda: _get(port, "/readyz")[0] == 200, 15, what="ready again")
    journal = tmp_path / "state" / "journal.sqlite3"
    journal.rename(tmp_path / "state" / "moved.sqlite3")  # the daemon's state directory was tampered with
    _code, body = wait_for(lambda: (r := _get(port, "/readyz"))[0] == 503 and r, 10, what="journal failing")
    assert len(body["causes"]) == 1 and "journal" in body["causes"][0] and "gone" in body["causes"][0]
    assert _get(port, "/healthz")[0] == 200


def test_paused_account_is_not_ready(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    _d, hot, port = _daemon(tmp_path, emulator.url, daemons, FAXDROPD_TEST_PASSWORD="wrong-password")
    assert wait_for(lambda: _get(port, "/readyz")[0] == 200, 10, what="ready")
    drop(hot, "a.pdf", make_sample_pdf(pages=1, text="paused"))
    _code, body = wait_for(lambda: (r := _get(port, "/readyz"))[0] == 503 and r, 30, what="paused")
    assert len(body["causes"]) == 1 and body["causes"][0].startswith("sending paused: ")
    assert _get(port, "/healthz")[0] == 200  # an InterFAX outage must not restart the daemon


@pytest.fixture
def journal(tmp_path: Path, journal_backend: JournalBackend) -> Iterator[Journal]:
    j = journal_backend.open(tmp_path / "state", exit_on_failure=False)
    yield j
    j.close()


def _serve(probes: Probes) -> Iterator[int]:
    server = Server("127.0.0.1", 0, make_app(Metrics(process_metrics=False).registry, probes))
    yield server.address[1]
    server.stop()


def test_journal_write_failure_makes_it_not_ready(journal: Journal) -> None:
    probes = Probes(lambda: [p for p in [journal.check()] if p])
    serving = _serve(probes)
    port = next(serving)
    try:
        assert _get(port, "/healthz") == (503, {"status": "the main loop has not started"})
        probes.tick()
        assert _get(port, "/readyz")[0] == 200

        def broken() -> None:
            raise sqlite3.OperationalError("disk I/O error")

        with pytest.raises(Exception, match="disk I/O error"):
            journal._write("transition", broken)
        code, body = _get(port, "/readyz")
        assert code == 503 and body["causes"] == ["journal write failed (transition): OperationalError: disk I/O error"]
        assert _get(port, "/healthz")[0] == 200
    finally:
        next(serving, None)


def test_journal_that_cannot_be_read_is_not_ready(
    journal: Journal, journal_backend: JournalBackend, request: pytest.FixtureRequest
) -> None:
    assert journal.check() == ""
    if journal_backend.name == "sqlite":
        journal._db.close()  # what a read sees once the database is unusable
        assert journal.check().startswith("journal cannot be read: ProgrammingError")
        return
    # PostgreSQL reconnects a closed connection by design; unusable there means the server is gone.
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    cluster.stop()
    try:
        assert journal.check().startswith("journal cannot be read: ")
    finally:
        cluster.start()
    assert journal.check() == ""  # and ready again once the server is back


def test_a_stalled_main_loop_is_not_alive() -> None:
    probes = Probes(stall_after=-1.0)  # any age is past a negative bound: a stall without waiting for one
    probes.tick()
    alive, why = probes.alive()
    assert not alive and why.startswith("the main loop has not run for")
    assert probes.not_ready() == [why]


# -- the scrape ------------------------------------------------------------------------------------------------

EXPECTED: dict[str, tuple[str, set[str]]] = {
    # family name (as the parser reports it) -> (type, label names)
    "faxdropd_build_info": ("gauge", {"version"}),  # an Info reads back as a gauge in the text format
    "faxdropd_jobs": ("counter", {"folder", "outcome"}),
    "faxdropd_pages": ("counter", {"folder", "outcome"}),
    "faxdropd_journal_jobs": ("gauge", {"state"}),
    "faxdropd_queue_depth": ("gauge", set()),
    "faxdropd_in_flight": ("gauge", set()),
    "faxdropd_folder_up": ("gauge", {"folder"}),
    "faxdropd_account_paused": ("gauge", set()),
    "faxdropd_interfax_calls": ("counter", {"operation", "result"}),
    "faxdropd_upload_seconds": ("histogram", set()),  # plus `le` on its buckets
    "faxdropd_retention_deleted": ("counter", {"kind"}),
    "faxdropd_notifications": ("counter", {"channel", "result"}),
}


def test_scrape_a_live_daemon(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], journal_backend: JournalBackend
) -> None:
    _d, hot, port = _daemon(tmp_path, emulator.url, daemons, journal_backend)
    for i in range(3):
        drop(hot, f"doc{i}.pdf", make_sample_pdf(pages=2, text=f"scrape {i}"))
    wait_for(lambda: len(receipts(hot / "sent")) == 3, 60, what="three faxes delivered")

    def scraped() -> dict[str, Any]:
        families = {f.name: f for f in text_string_to_metric_families(_get(port, "/metrics")[1])}
        jobs = families.get("faxdropd_journal_jobs")
        if jobs is None or {s.labels["state"]: s.value for s in jobs.samples}.get("delivered") != 3:
            return {}
        return families

    families = wait_for(scraped, 10, what="journal gauge refreshed")
    for name, (kind, labels) in EXPECTED.items():
        assert name in families, name
        family = families[name]
        assert family.type == kind, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)
    assert not [s.name for f in families.values() for s in f.samples if s.name.endswith("_created")]
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("faxdropd_build_info", (("version", "0.1.0"),))] == 1
    assert samples[("faxdropd_jobs_total", (("folder", "office"), ("outcome", "delivered")))] == 3
    assert samples[("faxdropd_pages_total", (("folder", "office"), ("outcome", "delivered")))] == 6
    assert samples[("faxdropd_journal_jobs", (("state", "delivered"),))] == 3
    assert samples[("faxdropd_journal_jobs", (("state", "submitted"),))] == 0
    assert samples[("faxdropd_retention_deleted_total", (("kind", "document"),))] == 0
    assert samples[("faxdropd_notifications_total", (("channel", "email"), ("result", "given_up")))] == 0
    assert samples[("faxdropd_in_flight", ())] == 0 and samples[("faxdropd_queue_depth", ())] == 0
    # Bounded labels only: no job ids, file names or numbers anywhere in the label values.
    values = {v for f in families.values() for s in f.samples for v in s.labels.values()}
    assert not [v for v in values if ".pdf" in v or "9999" in v or len(v) == 16]


def test_in_flight_counts_what_status_counts() -> None:
    from faxdropd.jobs.figures import queue_figures

    counts = {"claimed": 1, "deferred": 2, "uploading": 1, "submitting": 1, "submitted": 3, "unknown": 1, "failed": 9}
    figures = queue_figures(counts)
    assert (figures.queued, figures.in_flight) == (3, 6)  # submitted and unknown are in flight: being tracked


def test_in_flight_metric_matches_status(
    tmp_path: Path, daemons: list[DaemonProcess], journal_backend: JournalBackend
) -> None:
    import json
    import os
    import subprocess
    import sys

    from daemonkit import PASSWORD

    from faxdropd.emulator.server import EmulatorServer

    # Faxes that stay undelivered for a minute: being tracked, which the old gauge left out (status said 3, it 0).
    with EmulatorServer(username="demo", password=PASSWORD, status_delay=60) as slow:
        _d, hot, port = _daemon(tmp_path, slow.url, daemons, journal_backend)
        for i in range(3):
            drop(hot, f"doc{i}.pdf", make_sample_pdf(text=f"doc {i}"))

        def both() -> tuple[int, float] | None:
            proc = subprocess.run(
                [sys.executable, "-m", "faxdropd", "-c", str(tmp_path / "faxdropd.yaml"), "status", "--json"],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "FAXDROPD_TEST_PASSWORD": PASSWORD},
            )
            in_status = len(json.loads(proc.stdout)["in_flight"])
            families = {f.name: f for f in text_string_to_metric_families(_get(port, "/metrics")[1])}
            in_metric = families["faxdropd_in_flight"].samples[0].value
            return (in_status, in_metric) if in_status == 3 and in_metric == 3 else None

        assert wait_for(both, 60, interval=0.3, what="status and metric agree on 3 in flight") == (3, 3)


def test_the_collector_walks_the_heap_rarely(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    """daemon/collector.py: what is alive once the daemon is ready is frozen out of garbage collection, and the
    young generation is collected every 20,000 new objects, not every 700 (about once per fax before)."""
    _d, hot, port = _daemon(tmp_path, emulator.url, daemons)

    def figures() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        families = text_string_to_metric_families(_get(port, "/metrics")[1])
        return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}

    young = ("python_gc_collections_total", (("generation", "0"),))
    before = figures()
    assert before[("faxdropd_gc_frozen_objects", ())] > 10_000  # the schema, the config, the modules
    count = 20
    for i in range(count):
        drop(hot, f"doc{i}.pdf", make_sample_pdf(pages=1, text=f"collector {i}"))
    wait_for(lambda: len(receipts(hot / "sent")) == count, 60, what="the faxes delivered")
    assert figures()[young] - before[young] <= 2  # 8 with the default thresholds (0.4 per fax)
