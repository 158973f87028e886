"""faxdropd.daemon.sdnotify against a real AF_UNIX datagram socket (path and abstract namespace)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest

from faxdropd.daemon import sdnotify


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    # Not tmp_path: pytest's directory names can push the path past the 108-byte sun_path limit.
    tmpdir = tempfile.mkdtemp(dir="/tmp")
    path = os.path.join(tmpdir, "n.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    srv.bind(path)
    srv.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield srv
    srv.close()
    shutil.rmtree(tmpdir, ignore_errors=True)


def _recv(srv: socket.socket) -> list[str]:
    return srv.recv(4096).decode().split("\n")


def test_ready_with_and_without_status(notify_socket: socket.socket) -> None:
    assert sdnotify.ready("watching 3 folders")
    assert _recv(notify_socket) == ["READY=1", "STATUS=watching 3 folders"]
    assert sdnotify.ready()
    assert _recv(notify_socket) == ["READY=1"]


def test_status_newline_cannot_inject(notify_socket: socket.socket) -> None:
    assert sdnotify.status("2 in flight\nREADY=1")
    assert _recv(notify_socket) == ["STATUS=2 in flight READY=1"]


def test_reloading_carries_monotonic_usec(notify_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert sdnotify.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = _recv(notify_socket)
    assert first == "RELOADING=1"
    key, _, value = second.partition("=")
    assert key == "MONOTONIC_USEC" and before <= int(value) <= after


def test_stopping_watchdog_extend(notify_socket: socket.socket) -> None:
    assert sdnotify.stopping()
    assert _recv(notify_socket) == ["STOPPING=1"]
    assert sdnotify.watchdog_ping()
    assert _recv(notify_socket) == ["WATCHDOG=1"]
    assert sdnotify.extend_timeout(12.5)
    assert _recv(notify_socket) == ["EXTEND_TIMEOUT_USEC=12500000"]


def test_abstract_namespace(monkeypatch: pytest.MonkeyPatch) -> None:
    name = "faxdropd-test-" + uuid.uuid4().hex
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name)
        srv.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sdnotify.stopping()
        assert srv.recv(4096) == b"STOPPING=1"


def test_explicit_env_mapping(notify_socket: socket.socket) -> None:
    path = os.environ["NOTIFY_SOCKET"]
    assert not sdnotify.notify("READY=1", env={})
    assert sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": path})
    assert _recv(notify_socket) == ["READY=1"]


def test_noop_without_notify_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sdnotify.ready("x") is False
    assert sdnotify.status("x") is False
    assert sdnotify.reloading() is False
    assert sdnotify.stopping() is False
    assert sdnotify.watchdog_ping() is False
    assert sdnotify.extend_timeout(1) is False
    monkeypatch.setenv("NOTIFY_SOCKET", "")
    assert sdnotify.ready() is False


def test_send_errors_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    tmpdir = tempfile.mkdtemp(dir="/tmp")
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", os.path.join(tmpdir, "gone.sock"))  # nobody listening
        assert sdnotify.ready() is False
        monkeypatch.setenv("NOTIFY_SOCKET", "/" + "x" * 200)  # longer than sun_path
        assert sdnotify.watchdog_ping() is False
        monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")  # unsupported transport
        assert sdnotify.stopping() is False
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "30000000"}, 15.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": ""}, 1.0),  # empty pid: accepted (subprocess tests)
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 1.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),  # another process's
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "abc"}, None),
        ({"WATCHDOG_PID": str(os.getpid())}, None),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert sdnotify.watchdog_interval(env) == expected


def test_watchdog_interval_from_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", "500000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert sdnotify.watchdog_interval() == 0.25
    monkeypatch.delenv("WATCHDOG_USEC")
    assert sdnotify.watchdog_interval() is None
