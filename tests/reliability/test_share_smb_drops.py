"""Files written over SMB by a real client, in every style scanners and Windows PCs use, are each delivered
exactly once, whole: a private smbd on loopback takes the drops (tests/kit/shares.py's SmbDropClient) while
the daemon watches the share's directory.

Two views of the same share: the server-side directory (local disk, as a faxdropd host beside the Samba
server sees it: inotify events) and an sshfs mount of it (as a host elsewhere sees it: no events, polled,
and sftp's one-second mtimes). The writers' pauses stay shorter than stable_seconds, pre-allocated files
included, so this holds with size-and-mtime stability alone and stays valid with content-aware stability.
"""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from daemonkit import documents, wait_for
from kit.shares import Checkpoint, Drop, SambaShare, SmbDropClient, started_samba_share, started_sshfs_share

from reliability.rig import Rig, content, make_emulator
from reliability.sharekit import DEADLINE, SHARE_DEFAULTS, assert_ledger_matches, events, figure

pytestmark = pytest.mark.reliability

# ~100 KB documents in 8 KB chunks: each chunked, temp or pre-allocated drop takes a dozen SMB writes, and
# its pauses add up to longer than stable_seconds while each one stays well inside it. So a daemon that took
# a file merely for keeping its size (a pre-allocated one) would take it half-filled, and this test would see.
CHUNK = 8_192


@dataclass(frozen=True)
class Style:
    method: str
    kwargs: dict[str, Any]
    temp: str | None = None  # the temp name a write_via_temp drop passes through

    def start(self, client: SmbDropClient, name: str, data: bytes, pause: float, checkpoint: Checkpoint | None) -> Drop:
        # Every style but the one-shot write is paced like a slow scanner.
        kwargs = dict(self.kwargs) if self.method == "write_once" else {**self.kwargs, "pause": pause}
        if self.temp is not None:
            kwargs["temp_name"] = self.temp.format(name=name)
        if checkpoint is not None:
            kwargs["checkpoint"] = checkpoint
        drop: Drop = getattr(client, self.method)(name, data, background=True, **kwargs)
        return drop


STYLES = {
    "once": Style("write_once", {}),
    "chunked": Style("write_chunked", {"chunk_size": CHUNK}),
    "temp-part": Style("write_via_temp", {"chunk_size": CHUNK}, temp="{name}.part"),
    "temp-tilde": Style("write_via_temp", {"chunk_size": CHUNK}, temp="~{name}.tmp"),
    # Temp names that the folder's include patterns (*.pdf) would take: only the ignore rules keep them out.
    "temp-office": Style("write_via_temp", {"chunk_size": CHUNK}, temp="~${name}"),
    "temp-hidden": Style("write_via_temp", {"chunk_size": CHUNK}, temp=".{name}"),
    "prealloc-eof": Style("write_preallocated", {"chunk_size": CHUNK}),
    "prealloc-zero": Style("write_preallocated", {"chunk_size": CHUNK, "how": "zero_byte"}),
}
PER_STYLE = 2


@pytest.fixture(params=["server-dir", "sshfs"])
def smb_rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Rig, SambaShare, str, float]]:
    view: str = request.param
    with ExitStack() as stack:
        emulator = make_emulator(tmp_path / "store", status_delay=0.2)
        stack.callback(emulator.stop)
        if view == "sshfs":
            # The Samba share lives inside the sshd's served tree, so the daemon can watch it through sshfs.
            sshfs = stack.enter_context(started_sshfs_share())
            samba = stack.enter_context(started_samba_share(base=sshfs.server_dir))
            hot = sshfs.mount_dir / samba.root.name / samba.server_dir.name
            # sftp carries whole-second mtimes: a file filled in place may keep its size and its mtime for up
            # to a second, so the quiet period must span more than a second plus a pause.
            defaults = {**SHARE_DEFAULTS, "stable_seconds": 1.5}
            pause = 0.2
        else:
            samba = stack.enter_context(started_samba_share())
            hot = samba.server_dir
            defaults = {**SHARE_DEFAULTS, "stable_seconds": 0.5}
            pause = 0.1
        rig = Rig(tmp_path, emulator, hot=hot, defaults=defaults)
        stack.callback(rig.kill)  # runs first: the daemon lets go of the share before it is torn down
        yield rig, samba, view, pause


def _claimed_names(rig: Rig) -> list[str]:
    db = sqlite3.connect(f"file:{rig.state_dir / 'journal.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return [str(row[0]) for row in db.execute("SELECT name FROM jobs")]
    finally:
        db.close()


def test_every_smb_drop_style_is_delivered_once_and_whole(smb_rig: tuple[Rig, SambaShare, str, float]) -> None:
    rig, samba, view, pause = smb_rig
    rig.start()
    rng = random.Random(f"smb {view}")
    drops: list[Drop] = []
    held: list[Checkpoint] = []
    with samba.client() as client:

        def start(label: str, i: int) -> None:
            name, style = f"{label}-{i}.pdf", STYLES[label]
            # ~100 KB: a dozen chunks with pauses, still an inline fax.
            data = content("inline", f"{view} {label} {i}", rng)
            rig.inputs.append(data)
            checkpoint = None
            if style.temp is not None:
                # The scanner finished its temp file but renames it only later: the complete temp file sits
                # still for longer than stable_seconds, which only its name keeps the daemon from taking.
                checkpoint = Checkpoint(after_chunks=math.ceil(len(data) / CHUNK), timeout=2 * DEADLINE)
                held.append(checkpoint)
            drops.append(style.start(client, name, data, pause, checkpoint))

        try:
            for label in STYLES:
                for i in range(PER_STYLE):
                    if label != "once":
                        start(label, i)
            for checkpoint in held:
                assert checkpoint.reached.wait(DEADLINE), "a temp-file writer never finished its temp file"
            # Written after the temp files went still, and filed only after stable_seconds of quiet: once they
            # are in sent/, the daemon has seen the finished temp files sit still for longer than that.
            for i in range(PER_STYLE):
                start("once", i)
            once = {f"once-{i}.pdf" for i in range(PER_STYLE)}
            wait_for(lambda: once <= {d.name for d in documents(rig.hot / "sent")}, DEADLINE, what="once-* filed")
        finally:
            for checkpoint in held:
                checkpoint.resume.set()
        for drop in drops:
            drop.wait(DEADLINE)
    rig.quiesce(DEADLINE)
    report = rig.check(all_sent=True)
    assert_ledger_matches(rig)  # one submission per document, with the whole file's sha256
    names = _claimed_names(rig)  # no temp name was ever claimed, let alone submitted
    assert sorted(names) == sorted(f"{label}-{i}.pdf" for label in STYLES for i in range(PER_STYLE)), names
    assert not events(rig, "job.rejected") and not events(rig, "job.failed")
    figure(f"SMB drops in {len(STYLES)} styles, watched via {view}", report)
    rig.stop()
