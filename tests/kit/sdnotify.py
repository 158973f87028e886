"""The systemd side of sd_notify for tests: a datagram socket that records every message in arrival order.

Besides what the daemon announces, it gives tests two conditions to wait for instead of sleeping:
`flush()` (every datagram sent before it has been recorded) and `wait_reports(n)` (the daemon's main loop has
reported n more times, i.e. made that many full passes; see its docstring for what that covers)."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator

import pytest

from ._util import wait_until

MARK = "FAXDROPD_TEST_MARK"


class NotifySocket:
    """A bound AF_UNIX datagram socket (NOTIFY_SOCKET) and a thread recording what arrives on it."""

    def __init__(self) -> None:
        # Not tmp_path: pytest's directory names can exceed the 108-byte sun_path limit.
        self.dir = tempfile.mkdtemp(dir="/tmp")
        self.path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[list[str]] = []
        self._marks = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.messages.append(data.decode().split("\n"))

    def lines(self) -> list[str]:
        """Every assignment received, flattened in order ("READY=1", "STATUS=…", …)."""
        with self._lock:
            return [line for msg in self.messages for line in msg]

    def count(self, line: str) -> int:
        return sum(1 for item in self.lines() if item == line)

    def index(self, line: str, start: int = 0) -> int:
        """Position of the first message at or after message ``start`` holding ``line``; -1 if none."""
        with self._lock:
            for n, msg in enumerate(self.messages[start:], start):
                if line in msg:
                    return n
        return -1

    def reports(self) -> int:
        """How many STATUS= reports arrived so far."""
        return sum(1 for item in self.lines() if item.startswith("STATUS="))

    def flush(self, timeout: float = 10.0) -> None:
        """Return once every datagram sent to the socket before this call has been recorded: a datagram socket
        delivers in order, so a marker of our own arriving means everything queued before it has too."""
        self._marks += 1
        marker = f"{MARK}={self._marks}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
            out.sendto(marker.encode(), self.path)
        wait_until(lambda: self.count(marker) == 1, timeout, what="the notify socket drained")

    def wait_reports(self, n: int, timeout: float = 60.0) -> None:
        """Wait for `n` more STATUS= reports. The main loop sends one after a full pass at most every 2 s and
        refiles every 5 s, so 4 reports span over 6 s of passes including a refile pass."""
        target = self.reports() + n
        wait_until(lambda: self.reports() >= target, timeout, what=f"{n} more STATUS reports")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def notify() -> Iterator[NotifySocket]:
    ns = NotifySocket()
    yield ns
    ns.close()
