"""A hot folder on a real sshfs mount (private sshd on loopback, tests/kit/shares.py).

Other hosts' writes on a network share give no inotify events, and the share can die under the daemon.
Proven here with the real FUSE client: `watch: auto` polls the mount (found within poll_interval although
the rescan is an hour away), and a dead share pauses the folder without filing anything, losing anything or
sending anything twice, however long it outlasts the retry lifetime: a dead server (EIO on every call), a
dead sshfs (ENOTCONN), or a mount that went away (the path falls through to an empty local directory). When
the share is back, everything that was in flight or waiting is delivered exactly once. Each scenario prints
one line (files, delivered, duplicates, failed) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemonkit import documents, drop, wait_for
from kit.shares import SshfsShare, started_sshfs_share

from reliability.invariants import ledger
from reliability.rig import Rig, content, make_emulator
from reliability.sharekit import (
    DEADLINE,
    SHARE_DEFAULTS,
    assert_ledger_matches,
    events,
    figure,
    remote_drop,
    wait_event,
)

pytestmark = pytest.mark.reliability


@pytest.fixture
def share_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Rig, SshfsShare]]:
    # Delivery reports 2 s after a submission: faxes submitted just before the share dies are delivered while
    # it is down, so their filing meets the dead share.
    emulator = make_emulator(tmp_path / "store", status_delay=2.0)
    try:
        with started_sshfs_share(reconnect=getattr(request, "param", True)) as share:
            # A retry lifetime far shorter than the outage: a dead share is no reason to give up on a document.
            retry = {"initial": 0.3, "factor": 2, "cap": 1, "lifetime": 0.5}
            rig = Rig(tmp_path, emulator, hot=share.mount_dir, defaults=SHARE_DEFAULTS, extra={"retry": retry})
            try:
                yield rig, share
            finally:
                rig.kill()  # before the share goes: a daemon must not keep the mount busy
    finally:
        emulator.stop()


def _barrier(rig: Rig, name: str) -> None:
    """A file dropped through the mount (a local write, so events or polling both see it), filed: the daemon
    has listed the folder since start-up, so later server-side files can only be found by polling."""
    drop(rig.hot, name, f"barrier {name}\n".encode())
    rig.inputs.append(f"barrier {name}\n".encode())
    wait_for(lambda: any(d.name == name for d in documents(rig.hot / "sent")), DEADLINE, what=f"{name} filed")


def test_auto_polls_an_sshfs_hot_folder(share_rig: tuple[Rig, SshfsShare]) -> None:
    rig, share = share_rig
    rig.start()
    _barrier(rig, "barrier.txt")
    rng = random.Random(13)
    for i in range(6):
        remote_drop(rig, share.server_dir, f"remote-{i}.pdf", content("inline", f"remote {i}", rng))
    rig.quiesce(DEADLINE)
    report = rig.check(all_sent=True)
    assert_ledger_matches(rig)
    figure("sshfs server-side writes, watch auto", report)
    rig.stop()


# server: sshd killed, the mount answers EIO until it is back and reconnects by itself; client: sshfs killed,
# the mount is stale (ENOTCONN) until mounted again; unmounted: sshfs without `reconnect` exits when the server
# dies and the hot folder path falls through to an empty local directory until the share is mounted again.
@pytest.mark.parametrize(
    ("death", "share_rig"),
    [("server", True), ("client", True), ("unmounted", False)],
    ids=["server-dies-EIO", "client-dies-ENOTCONN", "server-dies-unmounted"],
    indirect=["share_rig"],
)
def test_dead_share_pauses_the_folder_and_misfiles_nothing(share_rig: tuple[Rig, SshfsShare], death: str) -> None:
    rig, share = share_rig
    rig.start()
    rng = random.Random(f"dead {death}")
    # Chunked uploads slowed down at the emulator, so some jobs are mid-upload, some submitted and waiting
    # for their delivery status, when the share dies.
    rig.fault(op="UploadFileChunk", kind="latency", seconds=0.2, count=-1)
    for i in range(4):
        remote_drop(rig, share.server_dir, f"big-{i}.pdf", content("chunked", f"big {death} {i}", rng))
    for i in range(4):
        remote_drop(rig, share.server_dir, f"small-{i}.pdf", content("inline", f"small {death} {i}", rng))
    wait_for(lambda: len(ledger(rig.emulator)["submissions"]) >= 2, DEADLINE, what="two submissions")
    before = len(ledger(rig.emulator)["submissions"])

    if death == "client":
        share.kill_client()
    else:
        share.kill_server()
    if death == "unmounted":
        wait_for(lambda: not share.is_mounted(), DEADLINE, what="sshfs to exit and unmount")
    for i in range(3):  # files arriving on the server while the share is dead for this host
        remote_drop(rig, share.server_dir, f"waiting-{i}.pdf", content("inline", f"waiting {death} {i}", rng))
    [down] = wait_event(rig, "folder.down", "folder.down")
    assert down["folder"] == rig.hot.name or down["path"] == str(rig.hot), down
    # The jobs in flight met the dead share: a submitted fax was delivered and could not be filed, and an
    # upload (or pre-flight) lost its document mid-read.
    wait_event(rig, "job.filing_postponed", "a delivered fax to meet the dead share")
    # ...and a job that lost its document was tried again during the outage, past its retry lifetime.
    wait_for(
        lambda: any(e.get("attempts", 0) >= 2 for e in events(rig, "job.deferred")),
        DEADLINE,
        what="a job to be retried while the share is dead",
    )
    # Seen from the server side (local disk): nothing was filed as failed, no job ended because of the outage.
    assert documents(share.server_dir / "failed") == []
    assert not events(rig, "job.failed") and not events(rig, "job.rejected"), "a dead share failed a document"

    if death == "server":
        share.start_server()
    else:
        share.remount()  # starts the server too
    wait_event(rig, "folder.up", "folder.up")
    rig.quiesce(DEADLINE)
    report = rig.check(all_sent=True)
    assert_ledger_matches(rig)
    kinds = [e["event"] for e in rig.daemon.events() if e.get("event") in ("folder.down", "folder.up")]
    assert kinds[:2] == ["folder.down", "folder.up"], kinds
    figure(f"sshfs share down ({death}) with {before} submitted, 3 files waiting", report)
    rig.stop()


def test_daemon_starting_while_its_share_is_dead_waits_for_it(share_rig: tuple[Rig, SshfsShare]) -> None:
    """A restart (or a boot) during the outage: the daemon starts, reports the folder down, and delivers what
    waited, work in progress included, once the share is back."""
    rig, share = share_rig
    rng = random.Random("restart")
    rig.start()
    rig.fault(op="SendfaxEx_2", kind="latency", seconds=0.5, count=-1)  # some jobs still unfinished at the kill
    for i in range(4):
        remote_drop(rig, share.server_dir, f"before-{i}.pdf", content("inline", f"before {i}", rng))
    wait_for(lambda: len(ledger(rig.emulator)["submissions"]) >= 1, DEADLINE, what="a submission")
    rig.kill()
    share.kill_server()
    for i in range(2):
        remote_drop(rig, share.server_dir, f"during-{i}.pdf", content("inline", f"during {i}", rng))
    rig.start()
    wait_event(rig, "folder.down", "folder.down after a start on a dead share")
    share.start_server()
    wait_event(rig, "folder.up", "folder.up")
    rig.quiesce(DEADLINE)
    report = rig.check(all_sent=True)
    assert_ledger_matches(rig)
    figure("daemon started while its sshfs share was down", report)
    rig.stop()
