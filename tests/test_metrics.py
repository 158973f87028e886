"""faxdropd.daemon.metrics: values, a real HTTP scrape, loopback by default, NullMetrics."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from faxdropd.daemon.metrics import Metrics, MetricsSink, NullMetrics, parse_listen


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def metrics() -> Iterator[Metrics]:
    m = Metrics()
    yield m
    m.stop()


def _exercise(m: MetricsSink) -> None:
    m.job_finished("sales", "submitted")
    m.job_finished("sales", "submitted")
    m.job_finished("legal", "rejected")
    m.call("SendfaxEx_2", "ok", 0.3)
    m.call("SendfaxEx_2", -1003)
    m.call("UploadFileChunk", TimeoutError("t"))
    m.set_queue(5, 2, 42.5)
    m.folder_health("sales", True)
    m.folder_health("legal", False)
    m.uploaded(300_000, 1.5)
    m.uploaded(1000, 0.1)
    m.paused(True)


def test_scrape_over_http(metrics: Metrics) -> None:
    port = _free_port()
    metrics.start(f"127.0.0.1:{port}")
    assert metrics.address == ("127.0.0.1", port)
    _exercise(metrics)
    resp = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert resp.status_code == 200
    s = _samples(resp.text)
    assert s[("faxdropd_jobs_total", (("folder", "sales"), ("outcome", "submitted")))] == 2
    assert s[("faxdropd_jobs_total", (("folder", "legal"), ("outcome", "rejected")))] == 1
    assert s[("faxdropd_interfax_calls_total", (("operation", "SendfaxEx_2"), ("result", "ok")))] == 1
    assert s[("faxdropd_interfax_calls_total", (("operation", "SendfaxEx_2"), ("result", "-1003")))] == 1
    assert s[("faxdropd_interfax_calls_total", (("operation", "UploadFileChunk"), ("result", "TimeoutError")))] == 1
    assert s[("faxdropd_interfax_call_seconds_count", (("operation", "SendfaxEx_2"),))] == 1
    assert s[("faxdropd_interfax_call_seconds_sum", (("operation", "SendfaxEx_2"),))] == pytest.approx(0.3)
    assert s[("faxdropd_queue_depth", ())] == 5
    assert s[("faxdropd_in_flight", ())] == 2
    assert s[("faxdropd_oldest_waiting_seconds", ())] == 42.5
    assert s[("faxdropd_folder_up", (("folder", "sales"),))] == 1
    assert s[("faxdropd_folder_up", (("folder", "legal"),))] == 0
    assert s[("faxdropd_account_paused", ())] == 1
    assert s[("faxdropd_upload_bytes_total", ())] == 301_000
    assert s[("faxdropd_upload_seconds_count", ())] == 2
    assert s[("faxdropd_upload_seconds_sum", ())] == pytest.approx(1.6)
    assert s[("faxdropd_upload_seconds_bucket", (("le", "1.0"),))] == 1
    assert s[("faxdropd_last_success_timestamp_seconds", ())] > 1.7e9  # set by the "submitted" outcome


def test_port_zero_and_default_host(metrics: Metrics) -> None:
    metrics.start(":0")  # empty host means loopback, never all interfaces
    assert metrics.address is not None
    host, port = metrics.address
    assert host == "127.0.0.1" and port > 0
    metrics.paused(False)
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert "faxdropd_account_paused 0.0" in text
    metrics.stop()
    assert metrics.address is None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_several_instances_have_their_own_registry() -> None:
    a, b = Metrics(), Metrics()
    a.job_finished("x", "failed")
    assert a.registry.get_sample_value("faxdropd_jobs_total", {"folder": "x", "outcome": "failed"}) == 1
    assert b.registry.get_sample_value("faxdropd_jobs_total", {"folder": "x", "outcome": "failed"}) is None


def test_gauges_and_success_timestamp(metrics: Metrics) -> None:
    metrics.set_queue(0, 0, None)
    assert metrics.registry.get_sample_value("faxdropd_oldest_waiting_seconds") == 0
    assert metrics.registry.get_sample_value("faxdropd_last_success_timestamp_seconds") == 0
    metrics.job_finished("x", "failed")
    assert metrics.registry.get_sample_value("faxdropd_last_success_timestamp_seconds") == 0
    metrics.job_finished("x", "accepted")
    assert (metrics.registry.get_sample_value("faxdropd_last_success_timestamp_seconds") or 0) > 0
    metrics.mark_success(1234.0)
    assert metrics.registry.get_sample_value("faxdropd_last_success_timestamp_seconds") == 1234.0


def test_start_twice_refused(metrics: Metrics) -> None:
    metrics.start("127.0.0.1:0")
    with pytest.raises(RuntimeError):
        metrics.start("127.0.0.1:0")


def test_port_in_use_raises_oserror(metrics: Metrics) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError):
            metrics.start(f"127.0.0.1:{busy.getsockname()[1]}")


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9464", ("127.0.0.1", 9464)),
        ("9464", ("127.0.0.1", 9464)),
        (":9464", ("127.0.0.1", 9464)),
        ("0.0.0.0:9464", ("0.0.0.0", 9464)),  # all interfaces only when asked
        ("[::1]:9464", ("::1", 9464)),
        ("localhost:0", ("localhost", 0)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["host:http", "1.2.3.4:70000", "[::1]9464", ""])
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(listen)


def test_fits_the_soap_call_observer() -> None:
    from faxdropd.interfax.client import CallObserver

    observer: CallObserver = Metrics().call  # the daemon passes metrics.call to ClientFactory
    observer("FaxQuery2", "ok", 0.01)


def test_null_metrics_accepts_everything() -> None:
    m = NullMetrics()
    _exercise(m)
    m.mark_success()
    m.start("127.0.0.1:0")
    assert m.address is None
    m.stop()
    public = {n for n in dir(Metrics) if not n.startswith("_")}
    assert public <= set(dir(NullMetrics))
