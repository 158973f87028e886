"""Helpers to run the real daemon as a subprocess against a real emulator, on real folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import yaml

PASSWORD = "s3cret-Pa55word!"  # test-only credential for the emulator, scanned for in every log


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def write_config(
    tmp: Path,
    url: str,
    folders: list[dict[str, Any]],
    *,
    extra: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    name: str = "faxdropd.yaml",
) -> Path:
    data: dict[str, Any] = {
        "interfax": {
            "url": url,
            "username": "demo",
            "password_env": "FAXDROPD_TEST_PASSWORD",
            "timeout": 5,
            "connect_timeout": 2,
        },
        "state_dir": str(tmp / "state"),
        "workers": 4,
        "log": {"format": "json", "level": "info"},
        "delivery": {"track": True, "poll_interval": 0.5, "reconcile_grace": 0.5},
        "retry": {"initial": 0.5, "factor": 2, "cap": 5, "lifetime": "1h"},
        "defaults": {
            "stable_seconds": 0.5,
            # Broken test documents (no %%EOF, no IEND) are held as incomplete this long before pre-flight.
            "incomplete_grace": 2,
            "rescan_interval": 2,
            "poll_interval": 0.5,
            "allow": ["+9999999*", "+1*", "+44*"],
            **(defaults or {}),
        },
        "folders": folders,
    }
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path = tmp / name
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


class DaemonProcess:
    def __init__(self, config: Path, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = log_path
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, wait: bool = True, extra_env: dict[str, str] | None = None) -> DaemonProcess:
        # An inherited NOTIFY_SOCKET (pytest under systemd) is dropped; one the test passes in env is kept.
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env.update({"FAXDROPD_TEST_PASSWORD": PASSWORD, **self.env, **(extra_env or {})})
        self.starts += 1
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "faxdropd", "-c", str(self.config), "run"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        if wait:
            wait_for(lambda: self._ready_since(offset) or self._died(), 30, what="daemon.ready")
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}")
        return self

    def _died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def _ready_since(self, offset: int) -> bool:
        with self.log_path.open("rb") as f:
            f.seek(offset)
            return b'"daemon.ready"' in f.read()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def receipts(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.receipt.json"))]


def documents(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.endswith((".receipt.json", ".fax.yaml")))


def drop(folder: Path, name: str, data: bytes) -> Path:
    """Write elsewhere in the folder under a hidden name, then rename into place, as careful writers do."""
    tmp = folder / f".{name}.part"
    tmp.write_bytes(data)
    final = folder / name
    tmp.rename(final)
    return final


def emulator_admin(emulator: Any, path: str) -> str:
    """URL of one of the emulator's test endpoints (`ledger`, `faults`, `reset`)."""
    return str(emulator.url.rsplit("/", 1)[0] + "/_emulator/" + path)


def ledger(emulator: Any, timeout: float = 30.0) -> dict[str, Any]:
    """The emulator's record of every upload session, submission and call."""
    r = requests.get(emulator_admin(emulator, "ledger"), timeout=timeout)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def arm_fault(emulator: Any, **spec: Any) -> None:
    """Arm a fault (`op`, `kind`, `count`, `after`, `seconds`, `code`) on the emulator."""
    r = requests.post(emulator_admin(emulator, "faults"), json=spec, timeout=10)
    assert r.status_code == 201, r.text
