"""The systemd notify protocol (sd_notify(3)), hand-rolled: one datagram to ``$NOTIFY_SOCKET``.

systemd recommends re-implementing these few lines rather than linking libsystemd; the PyPI wrappers add
nothing we need (tech.md §5.3). Every function is a no-op returning False when not run by systemd, and none
of them ever raises: a vanished or full notify socket must not take the daemon down with it.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping

import structlog

__all__ = ["extend_timeout", "notify", "ready", "reloading", "status", "stopping", "watchdog_interval", "watchdog_ping"]

log = structlog.get_logger("faxdropd.daemon.sdnotify")


def _address(raw: str) -> str | None:
    if raw.startswith("@"):
        return "\0" + raw[1:]  # Linux abstract namespace
    if raw.startswith("/"):
        return raw
    return None  # e.g. "vsock:…" (systemd ≥ 254 in VMs): not supported here


def notify(*lines: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``KEY=VALUE`` lines as one datagram. True if sent, False if not under systemd or on any error."""
    raw = (env if env is not None else os.environ).get("NOTIFY_SOCKET")
    if not raw:
        return False
    addr = _address(raw)
    if addr is None:
        log.debug("sdnotify.unsupported_socket", socket=raw)
        return False
    # A newline inside a value would start a new assignment (e.g. STATUS text smuggling "READY=1").
    payload = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8", "replace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(1.0)  # a full receive queue must not block the main loop forever
            sock.sendto(payload, addr)
    except OSError as exc:
        log.debug("sdnotify.send_failed", socket=raw, error=str(exc))
        return False
    return True


def ready(status: str = "") -> bool:
    """Start-up (or a reload) is complete."""
    return notify("READY=1", *([f"STATUS={status}"] if status else []))


def status(text: str) -> bool:
    """Free text shown by ``systemctl status``."""
    return notify(f"STATUS={text}")


def reloading() -> bool:
    """A reload has begun; must be followed by :func:`ready`.

    MONOTONIC_USEC is required by ``Type=notify-reload`` (systemd ≥ 253) or ``systemctl reload`` waits for
    the timeout; older systemd ignores the extra field, so it is always sent.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def stopping() -> bool:
    """Shutdown has begun."""
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    """Keep-alive for ``WatchdogSec=``; send only when the daemon's own health checks pass."""
    return notify("WATCHDOG=1")


def extend_timeout(seconds: float) -> bool:
    """Ask for ``seconds`` more from now for the current start/stop/reload (e.g. finishing an upload)."""
    return notify(f"EXTEND_TIMEOUT_USEC={max(0, int(seconds * 1_000_000))}")


def watchdog_interval(env: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of ``WATCHDOG_USEC``), or None if the watchdog is off or not ours.

    ``WATCHDOG_PID`` names the process that must ping; if it is another pid (we are a child that inherited
    the environment) we must not. An empty ``WATCHDOG_PID`` is accepted, which lets tests start the daemon
    as a subprocess with a watchdog.
    """
    e = env if env is not None else os.environ
    usec, pid = e.get("WATCHDOG_USEC", ""), e.get("WATCHDOG_PID", "")
    try:
        value = int(usec)
        if pid and int(pid) != os.getpid():
            return None
    except ValueError:
        return None
    if value <= 0:
        return None
    return value / 1_000_000 / 2
