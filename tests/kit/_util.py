"""Small helpers shared by the kit modules."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn

import pytest


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now.

    The socket is closed before the port is used, so another process could grab it in between; on a test
    machine that window is small enough, and asking the server itself for port 0 would not let a service
    come back on the same port after a simulated outage.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02, what: str = "condition") -> None:
    """Poll `predicate` until it is true, raising TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def unavailable(reason: str) -> NoReturn:
    """Skip locally, but fail in CI: there a missing service means the CI script forgot to install it,
    and a silent skip would hide that the tests never ran."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true, so this is a failure rather than a skip)", pytrace=False)
    pytest.skip(reason)
