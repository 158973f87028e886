from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from daemonkit import PASSWORD, DaemonProcess


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[object]:
    from faxdropd.emulator.server import EmulatorServer

    server = EmulatorServer(username="demo", password=PASSWORD, store=tmp_path / "store", status_delay=0.5)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.kill()
