"""Prometheus metrics and their HTTP endpoint.

Each :class:`Metrics` owns its own ``CollectorRegistry`` (not the global one), so tests and the demo can
create several and a reload never trips over "Duplicated timeseries". :class:`NullMetrics` has the same
methods and does nothing; the daemon uses it when ``metrics:`` is absent from the config.

Label values are bounded on purpose: folders come from the config, outcomes and operations from code, and
``result`` of a call is "ok", an InterFAX result code or an exception class name — never free text.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    ProcessCollector,
    disable_created_metrics,
)

from faxdropd import __version__
from faxdropd.daemon.endpoints import Probes, Server, make_app
from faxdropd.jobs.outbox import EMAIL, RESULTS, WEBHOOK
from faxdropd.jobs.schema import State

__all__ = ["SUCCESS_OUTCOMES", "Metrics", "MetricsSink", "NullMetrics", "parse_listen"]

DEFAULT_HOST = "127.0.0.1"
# Outcomes that count as "the fax went out" for faxdropd_last_success_timestamp_seconds
# ("accepted": InterFAX took it and delivery tracking is off).
SUCCESS_OUTCOMES = frozenset({"delivered", "accepted", "submitted", "sent"})
_CALL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
# Upload + SendfaxEx_2 wall time: inline sends take < 1 s, a 3 MB chunked upload on a slow link minutes.
_UPLOAD_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
RETENTION_KINDS = ("document", "receipt", "job")
# Every counter would also export a `<name>_created` series: noise for Prometheus, which derives resets itself.
disable_created_metrics()  # type: ignore[no-untyped-call]


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

    def job_finished(self, folder: str, outcome: str, pages: int | None = None) -> None: ...
    def notification(self, channel: str, result: str) -> None: ...
    def call(self, operation: str, result: str | int | BaseException, seconds: float | None = None) -> None: ...
    def set_queue(self, depth: int, in_flight: int, oldest_age: float | None) -> None: ...
    def set_jobs(self, counts: Mapping[str, int]) -> None: ...
    def retention_deleted(self, kind: str, count: int) -> None: ...
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
            # python_gc_* (collections and objects collected per generation) and the objects frozen at start:
            # daemon/collector.py's tuning, visible.
            GCCollector(registry=r)
            frozen = Gauge("gc_frozen_objects", "Objects kept out of garbage collection since start-up",
                           namespace=ns, registry=r)  # fmt: skip
            frozen.set_function(gc.get_freeze_count)
        self.jobs = Counter(
            "jobs", "Jobs finished, by folder and outcome", ["folder", "outcome"], namespace=ns, registry=r
        )
        Info("build", "The running faxdropd", namespace=ns, registry=r).info({"version": __version__})
        # Counted from the journal as `faxdropd status` counts them (jobs/figures.py), every few seconds.
        self.queue_depth = Gauge(
            "queue_depth", "Jobs waiting for a worker (claimed, deferred)", namespace=ns, registry=r
        )
        self.in_flight = Gauge(
            "in_flight", "Jobs uploading, submitting, awaiting delivery or being reconciled", namespace=ns, registry=r
        )
        # Not `faxdropd_jobs{state}`: the counter faxdropd_jobs_total owns the family name `faxdropd_jobs`, and
        # one family cannot be both a counter and a gauge (the exposition format refuses it).
        self.jobs_by_state = Gauge("journal_jobs", "Jobs in the journal, by state", ["state"], namespace=ns, registry=r)
        self.pages = Counter(
            "pages", "Pages of finished jobs, by folder and outcome", ["folder", "outcome"], namespace=ns, registry=r
        )
        self.retention = Counter(
            "retention_deleted",
            "Expired items removed by retention (document, receipt, job)",
            ["kind"],
            namespace=ns,
            registry=r,
        )
        for kind in RETENTION_KINDS:  # present at 0 from the start, so rate() sees the first deletion
            self.retention.labels(kind=kind)
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
            "Notification delivery attempts by channel (email, webhook) and result (sent, retried, given_up)",
            ["channel", "result"],
            namespace=ns,
            registry=r,
        )
        for channel in (EMAIL, WEBHOOK):  # every series from the start: an alert on given_up needs its zero
            for result in RESULTS:
                self.notifications.labels(channel=channel, result=result)
        self._lock = threading.Lock()
        self._server: Server | None = None
        # /healthz and /readyz read this; the daemon swaps in its own before the main loop starts.
        self.probes = Probes()
        self.address: tuple[str, int] | None = None

    # --- the typed API used by the pipeline, tracker and daemon ---
    def job_finished(self, folder: str, outcome: str, pages: int | None = None) -> None:
        self.jobs.labels(folder=folder, outcome=outcome).inc()
        self.pages.labels(folder=folder, outcome=outcome).inc(max(0, pages or 0))
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

    def set_jobs(self, counts: Mapping[str, int]) -> None:
        """Jobs by state; states the journal no longer holds read 0 rather than keep their last value."""
        for state in State:
            self.jobs_by_state.labels(state=str(state)).set(counts.get(str(state), 0))

    def retention_deleted(self, kind: str, count: int) -> None:
        self.retention.labels(kind=kind).inc(max(0, count))

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
            # The app reads self.probes on each request, so a later swap reaches it.
            server = Server(host, port, make_app(self.registry, _Forward(self)))
            self._server = server
            self.address = server.address

    def stop(self) -> None:
        with self._lock:
            server = self._server
            self._server = None
            self.address = None
        if server is not None:
            server.stop()


class _Forward(Probes):
    """The probes of a Metrics as they are now (the daemon replaces them once its main loop exists)."""

    def __init__(self, owner: Metrics) -> None:
        super().__init__()
        self._owner = owner

    def alive(self) -> tuple[bool, str]:
        return self._owner.probes.alive()

    def not_ready(self) -> list[str]:
        return self._owner.probes.not_ready()


class NullMetrics:
    """Metrics disabled: every method accepts the same arguments and does nothing."""

    address: tuple[str, int] | None = None
    probes = Probes()

    def job_finished(self, folder: str, outcome: str, pages: int | None = None) -> None:
        pass

    def set_jobs(self, counts: Mapping[str, int]) -> None:
        pass

    def retention_deleted(self, kind: str, count: int) -> None:
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
