"""What the share scenarios of the reliability suite share: a Rig whose hot folder is a real share, the
daemon's log events, and the one-line figure each scenario prints for docs/RELIABILITY.md."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

from daemonkit import drop, wait_for

from reliability.invariants import Report, ledger
from reliability.rig import Rig

# The daemon settings every share scenario runs with: `watch: auto` decides from the mount table, and the
# rescan is an hour away, so a file found in time was found by polling the share, not by the safety rescan.
SHARE_DEFAULTS: dict[str, Any] = {"watch": "auto", "rescan_interval": "1h", "poll_interval": 0.3}
DEADLINE = 45.0  # per wait; each scenario stays under ~60 s on 2 busy cores


def events(rig: Rig, name: str) -> list[dict[str, Any]]:
    return [e for e in rig.daemon.events() if e.get("event") == name]


def remote_drop(rig: Rig, server_dir: Path, name: str, data: bytes) -> None:
    """Another host drops a file: written on the server side (hidden name, then rename), no local event."""
    drop(server_dir, name, data)
    rig.inputs.append(data)


def submissions_per_content(rig: Rig) -> Counter[str]:
    return Counter(str(s["sha256"]) for s in ledger(rig.emulator)["submissions"])


def assert_ledger_matches(rig: Rig) -> None:
    """Every input submitted exactly once, with the sha256 of its full content (never a partial file)."""
    wanted = Counter(hashlib.sha256(d).hexdigest() for d in rig.inputs)
    assert submissions_per_content(rig) == wanted, "the ledger's contents differ from the dropped files"


def figure(scenario: str, report: Report) -> str:
    """One line per scenario, collected for docs/RELIABILITY.md."""
    delivered = report.outcomes.get("delivered", 0) + report.outcomes.get("accepted", 0)
    line = (
        f"share scenario {scenario}: files={report.inputs} delivered={delivered} "
        f"duplicates={report.duplicates} failed={report.failed}"
    )
    print(f"\n{line}")
    numbers = {"files": report.inputs, "delivered": delivered, "duplicates": report.duplicates}
    print("FIGURE " + json.dumps({"test": "share", "scenario": scenario, **numbers, "failed": report.failed}))
    return line


def wait_event(rig: Rig, name: str, what: str, count: int = 1) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = wait_for(
        lambda: len(got := events(rig, name)) >= count and got, DEADLINE, interval=0.1, what=what
    )
    return found
