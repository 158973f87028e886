"""Several hosts on one share: N daemons, each with its own state_dir, all watching ONE hot folder.

Each host is killed (SIGKILL) or restarted (SIGTERM) while the others hold claimed and submitted documents
(status_delay keeps faxes in flight for a while); a peer killed for good is adopted with `faxdropd adopt`, and
comes back. Invariants (invariants.check): every document filed exactly once, all delivered, no reference or
content submitted twice, every journal final. One `FIGURE {json}` line per scenario for RELIABILITY.md.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, documents, receipts, wait_for

from faxdropd.emulator.server import EmulatorServer
from reliability.invariants import check, filed_count, journal_rows
from reliability.rig import QUIESCE_TIMEOUT, Rig
from reliability.rig import hosts as several_hosts

pytestmark = pytest.mark.reliability

FINAL = ("delivered", "failed", "rejected", "adopted")


def _emulator(store: Path) -> EmulatorServer:
    # Faxes stay "in progress" for 2 s: long enough that a peer's restart meets submitted work.
    return EmulatorServer(
        username="demo", password=PASSWORD, store=store, status_delay=2.0, query_limit=600, query_window=60.0
    ).start()


def _hosts(tmp: Path, emulator: EmulatorServer, n: int, window: str | int, **extra: Any) -> list[Rig]:
    return several_hosts(tmp, emulator, n, limits={"faxes_per_hour": None, "duplicate_window": window}, **extra)


def _area(rig: Rig, name: str) -> list[str]:
    area = rig.hot / ".faxdropd" / name
    return sorted(p.name for p in area.glob("*__*")) if area.is_dir() else []


def _quiesce(rigs: list[Rig], inputs: list[bytes]) -> None:
    def done() -> bool:
        if filed_count([rigs[0].hot]) < len(inputs):
            return False
        return all(all(r[1] in FINAL for r in journal_rows(rig.state_dir)) for rig in rigs)

    try:
        wait_for(done, QUIESCE_TIMEOUT, interval=0.5, what="every document filed by some host")
    except AssertionError:
        logs = "\n".join(rig.daemon.log_text()[-2000:] for rig in rigs)
        raise AssertionError(f"not quiescent: {filed_count([rigs[0].hot])}/{len(inputs)}\n{logs}") from None


def _check(rigs: list[Rig], inputs: list[bytes], scenario: str, kills: int) -> dict[str, Any]:
    report = check([rigs[0].hot], rigs[0].state_dir, inputs, rigs[0].emulator, all_sent=True)
    for rig in rigs[1:]:
        left = [r for r in journal_rows(rig.state_dir) if r[1] not in FINAL]
        assert left == [], f"{rig.root.name}: jobs not final: {left[:5]}"
    figure = {
        "scenario": scenario,
        "hosts": len(rigs),
        "files": len(inputs),
        "kills": kills,
        "delivered": report.outcomes.get("delivered", 0),
        "duplicates": report.duplicates,
        "failed": report.failed,
        "submissions": report.submissions,
    }
    print("\nFIGURE " + json.dumps(figure))
    assert report.submissions == len(inputs) and report.duplicates == 0, figure
    assert report.failed == 0 and report.outcomes == {"delivered": len(inputs)}, figure
    return figure


def _payload(i: int) -> bytes:
    return f"multihost document {i}\n".encode() * 8


@pytest.mark.parametrize(("hosts", "window"), [(2, 0), (3, "24h")])
def test_peers_restart_while_others_hold_work(tmp_path: Path, hosts: int, window: str | int) -> None:
    emulator = _emulator(tmp_path / "store")
    rigs = _hosts(tmp_path, emulator, hosts, window)
    inputs: list[bytes] = []
    kills = 0
    try:
        for rig in rigs:
            rig.start()
        for round_ in range(2):
            for victim in range(hosts):
                others = [r for j, r in enumerate(rigs) if j != victim]
                # The victim is frozen while the batch arrives, so its peers take it: its restart then meets
                # their claimed and submitted work in the shared .faxdropd/.
                rigs[victim].daemon.signal(signal.SIGSTOP)
                batch = [_payload(len(inputs) + k) for k in range(4)]
                for k, data in enumerate(batch):
                    rigs[0].drop(f"doc-{round_}-{victim}-{k}.txt", data)
                inputs += batch
                wait_for(
                    lambda others=others: any(_area(r, r.root.name.replace("host", "h")) for r in others),
                    60,
                    what="a peer holding work",
                )
                rigs[victim].daemon.signal(signal.SIGCONT)
                if round_ == 0:
                    rigs[victim].kill()
                    kills += 1
                else:
                    rigs[victim].stop()
                rigs[victim].start()
        _quiesce(rigs, inputs)
        _check(rigs, inputs, f"{hosts} hosts, restarts and SIGKILLs, duplicate_window={window}", kills)
    finally:
        for rig in rigs:
            rig.kill()
        emulator.stop()


def _adopt(rig: Rig, peer: str, *force: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FAXDROPD_TEST_PASSWORD": PASSWORD}
    return subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(rig.config), "adopt", peer, *force],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize("window", [0, "24h"])
def test_dead_peer_adopted_and_comes_back(tmp_path: Path, window: str | int) -> None:
    emulator = _emulator(tmp_path / "store")
    # A long peer_timeout: the refusal below does not depend on how fast this machine is.
    a, b = _hosts(tmp_path, emulator, 2, window, peer_timeout="1h")
    inputs = [_payload(i) for i in range(8)]
    try:
        a.start()
        for i, data in enumerate(inputs):
            a.drop(f"adopt-{i}.txt", data)
        wait_for(lambda: len(_area(a, "h0")) >= 3, 60, what="h0 holding work")
        a.kill()
        held = _area(a, "h0")
        b.start()
        refused = _adopt(b, "h0")
        assert refused.returncode == 1 and "looks alive" in refused.stderr, refused.stderr
        assert _area(a, "h0") == held, "a refused adoption moved something"
        adopted = _adopt(b, "h0", "--force")
        assert adopted.returncode == 0, adopted.stderr
        assert not (a.hot / ".faxdropd" / "h0").exists()
        _quiesce([b], inputs)
        a.start()  # the adopted host comes back: it must not send anything again
        wait_for(lambda: all(r[1] in FINAL for r in journal_rows(a.state_dir)), 60, what="h0 settling")
        rows = journal_rows(a.state_dir)
        assert sum(1 for r in rows if r[1] == "adopted") >= 1, rows
        figure = _check([a, b], inputs, f"peer adopted with --force and back, duplicate_window={window}", 1)
        froms = [r.get("adopted_from") for r in receipts(a.hot / "sent")]
        assert froms.count("h0") == len(held) - sum(1 for n in held if n.endswith(".fax.yaml")), froms
        assert len(documents(a.hot / "sent")) == figure["delivered"]
    finally:
        a.kill()
        b.kill()
        emulator.stop()
