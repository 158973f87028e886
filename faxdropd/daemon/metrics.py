"""Prometheus metrics and their HTTP endpoint.

Each :class:`Metrics` owns its own ``CollectorRegistry`` (not the global one), so tests and the demo can
create several and a reload never trips over "Duplicated timeseries". :class:`NullMetrics` has the same
methods and does nothing; the daemon uses it when ``metrics:`` is absent from the config.

Label values are bounded on purpose: folders come from the config, outcomes and operations from code, and
``result`` of a call is "ok", an InterFAX result code or an exception class name — never free text.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    start_http_server,
)

__all__ = ["SUCCESS_OUTCOMES", "Metrics", "MetricsSink", "NullMetrics", "parse_listen"]

DEFAULT_HOST = "127.0.0.1"
# Outcomes that count as "the fax went out" for faxdropd_last_success_timestamp_seconds
# ("accepted": InterFAX took it and delivery tracking is off).
SUCCESS_OUTCOMES = frozenset({"delivered", "accepted", "submitted", "sent"})
_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
# Upload + SendfaxEx_2 wall time: inline sends take < 1 s, a 3 MB chunked upload on a slow link minutes.
_UPLOAD_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


def parse_listen(listen: str) -> tuple[str, int]:
    """``"host:port"``, ``"[::1]:port"`` or ``"port"`` → (host, port). An empty host means loopback.

    Binding every interface must be asked for explicitly (``0.0.0.0:9464`` / ``[::]:9464``): prometheus'
    own default is 0.0.0.0, which would publish queue and account state to the whole network.
    """
    text = listen.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"metrics listen address {listen!r}: expected [host]:port")
    elif ":" in text:
        host, _, port = text.rpartition(":")
    else:
        host, port = "", text
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"metrics listen address {listen!r}: port is not a number") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"metrics listen address {listen!r}: port out of range")
    return host or DEFAULT_HOST, number


def _result_label(result: str | int | BaseException) -> str:
    if isinstance(result, BaseException):
        return type(result).__name__
    return str(result)


class MetricsSink(Protocol):
    """What the rest of faxdropd may call; both classes below satisfy it."""

    def job_finished(self, folder: str, outcome: str) -> None: ...
    def notification(self, channel: str, result: str) -> None: ...
    def call(self, operation: str, result: str | int | BaseException, seconds: float | None = None) -> None: ...
    def set_queue(self, depth: int, in_flight: int, oldest_age: float | None) -> None: ...
    def folder_health(self, folder: str, up: bool) -> None: ...
    def uploaded(self, nbytes: int, seconds: float) -> None: ...
    def paused(self, flag: bool) -> None: ...
    def mark_success(self, timestamp: float | None = None) -> None: ...
    def start(self, listen: str) -> None: ...
    def stop(self) -> None: ...


class Metrics:
    """The real thing. Thread-safe: prometheus_client metrics lock internally."""

    def __init__(self, namespace: str = "faxdropd", *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry()
        r, ns = self.registry, namespace
        if process_metrics:
            # process_* (RSS, fds, CPU). Needs /proc/stat: absent (silently) under ProcSubset=pid.
            ProcessCollector(registry=r)
        self.jobs = Counter(
            "jobs", "Jobs finished, by folder and outcome", ["folder", "outcome"], namespace=ns, registry=r
        )
        self.queue_depth = Gauge("queue_depth", "Jobs waiting (stable, deferred, unknown)", namespace=ns, registry=r)
        self.in_flight = Gauge("in_flight", "Jobs being uploaded or submitted now", namespace=ns, registry=r)
        self.upload_bytes = Counter("upload_bytes", "Document bytes uploaded to InterFAX", namespace=ns, registry=r)
        self.upload_seconds = Histogram(
            "upload_seconds", "Time to upload and submit one fax", namespace=ns, registry=r, buckets=_UPLOAD_BUCKETS
        )
        self.interfax_calls = Counter(
            "interfax_calls",
            "InterFAX SOAP calls by operation and result",
            ["operation", "result"],
            namespace=ns,
            registry=r,
        )
        self.interfax_call_seconds = Histogram(
            "interfax_call_seconds",
            "InterFAX SOAP call latency",
            ["operation"],
            namespace=ns,
            registry=r,
            buckets=_CALL_BUCKETS,
        )
        self.oldest_waiting = Gauge("oldest_waiting_seconds", "Age of the oldest waiting job", namespace=ns, registry=r)
        self.folder_up = Gauge(
            "folder_up", "1 if the hot folder is watchable, else 0", ["folder"], namespace=ns, registry=r
        )
        self.account_paused = Gauge(
            "account_paused", "1 while sending is paused account-wide", namespace=ns, registry=r
        )
        self.last_success = Gauge(
            "last_success_timestamp_seconds",
            "Unix time of the last successful submission or delivery",
            namespace=ns,
            registry=r,
        )
        self.notifications = Counter(
            "notifications",
            "Notifications by channel (email, webhook) and result (sent, retried, gave_up)",
            ["channel", "result"],
            namespace=ns,
            registry=r,
        )
        self._lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] | None = None

    # --- the typed API used by the pipeline, tracker and daemon ---
    def job_finished(self, folder: str, outcome: str) -> None:
        self.jobs.labels(folder=folder, outcome=outcome).inc()
        if outcome in SUCCESS_OUTCOMES:
            self.mark_success()

    def notification(self, channel: str, result: str) -> None:
        self.notifications.labels(channel=channel, result=result).inc()

    def call(self, operation: str, result: str | int | BaseException, seconds: float | None = None) -> None:
        """One SOAP call; fits ``soap.CallObserver`` (operation, result, elapsed) directly."""
        self.interfax_calls.labels(operation=operation, result=_result_label(result)).inc()
        if seconds is not None:
            self.interfax_call_seconds.labels(operation=operation).observe(max(0.0, seconds))

    def set_queue(self, depth: int, in_flight: int, oldest_age: float | None) -> None:
        self.queue_depth.set(depth)
        self.in_flight.set(in_flight)
        self.oldest_waiting.set(max(0.0, oldest_age) if oldest_age is not None else 0.0)

    def folder_health(self, folder: str, up: bool) -> None:
        self.folder_up.labels(folder=folder).set(1 if up else 0)

    def uploaded(self, nbytes: int, seconds: float) -> None:
        self.upload_bytes.inc(max(0, nbytes))
        self.upload_seconds.observe(max(0.0, seconds))

    def paused(self, flag: bool) -> None:
        self.account_paused.set(1 if flag else 0)

    def mark_success(self, timestamp: float | None = None) -> None:
        self.last_success.set(timestamp if timestamp is not None else time.time())

    # --- the endpoint ---
    def start(self, listen: str) -> None:
        """Serve ``/metrics`` on ``listen`` ("host:port", default host 127.0.0.1) in a daemon thread.

        Raises ValueError for a malformed address and OSError if the port cannot be bound. Port 0 picks a free
        port; the bound (host, port) is then in :attr:`address`.
        """
        host, port = parse_listen(listen)
        with self._lock:
            if self._server is not None:
                raise RuntimeError("metrics endpoint already started")
            server, thread = start_http_server(port, addr=host, registry=self.registry)
            self._server, self._thread = server, thread
            self.address = (host, int(server.server_address[1]))

    def stop(self) -> None:
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
            self.address = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)


class NullMetrics:
    """Metrics disabled: every method accepts the same arguments and does nothing."""

    address: tuple[str, int] | None = None

    def job_finished(self, folder: str, outcome: str) -> None:
        pass

    def notification(self, channel: str, result: str) -> None:
        pass

    def call(self, operation: str, result: str | int | BaseException, seconds: float | None = None) -> None:
        pass

    def set_queue(self, depth: int, in_flight: int, oldest_age: float | None) -> None:
        pass

    def folder_health(self, folder: str, up: bool) -> None:
        pass

    def uploaded(self, nbytes: int, seconds: float) -> None:
        pass

    def paused(self, flag: bool) -> None:
        pass

    def mark_success(self, timestamp: float | None = None) -> None:
        pass

    def start(self, listen: str) -> None:
        pass

    def stop(self) -> None:
        pass
