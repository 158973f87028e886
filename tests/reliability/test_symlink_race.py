"""T10: the symlink-flip race. A name flips between a harmless file and a symlink to a canary as fast as a
thread can rename; the canary's bytes must never be read (unit level) nor submitted (daemon level).

Flips are rename-over of a prepared entry, so the name always exists and is atomically one or the other,
which is exactly what a hostile writer on the share can do.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import threading
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, wait_for, write_config

from faxdropd.document import preflight
from faxdropd.errors import Rejected

pytestmark = pytest.mark.reliability

HARMLESS = b"a harmless page of text\n"
UNIT_ITERATIONS = 20_000
DAEMON_FLIPS = 12_000


class Flipper(threading.Thread):
    """Renames a fresh regular file, then a fresh symlink to `target_of_link`, over `name`, until stopped."""

    def __init__(self, name: Path, target_of_link: Path, scratch: Path) -> None:
        super().__init__(daemon=True)
        self.target_name, self.link_target, self.scratch = name, target_of_link, scratch
        self.flips = 0
        self.stop = threading.Event()

    def flip_once(self) -> None:
        kind = self.flips % 2
        tmp = self.scratch / f".flip-{kind}"
        if kind == 0:
            tmp.write_bytes(HARMLESS)
        else:
            tmp.symlink_to(self.link_target)
        os.replace(tmp, self.target_name)
        self.flips += 1

    def run(self) -> None:
        while not self.stop.is_set():
            self.flip_once()


def canary_file(tmp_path: Path) -> tuple[Path, bytes]:
    marker = f"CANARY-{uuid.uuid4().hex}\n".encode()
    canary = tmp_path / "canary.txt"
    canary.write_bytes(marker)  # plain text: pre-flight would accept it if it ever read it
    return canary, marker


def test_open_document_never_reads_the_canary(tmp_path: Path) -> None:
    canary, marker = canary_file(tmp_path)
    canary_sha = hashlib.sha256(marker).hexdigest()
    folder = tmp_path / "work"
    folder.mkdir()
    target = folder / "doc.txt"
    flipper = Flipper(target, canary, folder)
    flipper.flip_once()
    flipper.start()
    outcomes: Counter[str] = Counter()
    try:
        for _ in range(UNIT_ITERATIONS):
            try:
                with preflight.open_document(target, folder) as checked:
                    assert checked.sha256 != canary_sha, "the canary was read through the symlink"
                    assert b"".join(checked.read_chunks()) == HARMLESS
                    outcomes["opened"] += 1
            except Rejected as exc:
                outcomes[exc.reason] += 1
            except FileNotFoundError:
                outcomes["vanished"] += 1  # cannot happen with rename-over, but is no leak either
    finally:
        flipper.stop.set()
        flipper.join()
    print(f"unit race: {UNIT_ITERATIONS} opens, {flipper.flips} flips, outcomes {dict(outcomes)}")
    # Both sides of the race must actually have been hit, or this test proves nothing.
    assert outcomes["opened"] > 0 and outcomes["symbolic links are never followed"] > 0, outcomes


def test_parent_directory_flip_never_reads_the_canary(tmp_path: Path) -> None:
    """The folder component flips between a directory inside `folder` and one outside holding the canary."""
    canary, marker = canary_file(tmp_path)
    canary_sha = hashlib.sha256(marker).hexdigest()
    folder = tmp_path / "hot"
    inside = folder / "real"
    inside.mkdir(parents=True)
    (inside / "doc.txt").write_bytes(HARMLESS)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "doc.txt").write_bytes(canary.read_bytes())
    sub = folder / "sub"
    stop = threading.Event()
    flips = 0

    def flip_parent() -> None:
        nonlocal flips
        while not stop.is_set():
            tmp = folder / ".sub-tmp"
            tmp.symlink_to(inside if flips % 2 == 0 else outside, target_is_directory=True)
            os.replace(tmp, sub)
            flips += 1

    (folder / ".sub-tmp").symlink_to(inside, target_is_directory=True)
    os.replace(folder / ".sub-tmp", sub)
    thread = threading.Thread(target=flip_parent, daemon=True)
    thread.start()
    outcomes: Counter[str] = Counter()
    try:
        for _ in range(UNIT_ITERATIONS // 2):
            try:
                with preflight.open_document(sub / "doc.txt", folder) as checked:
                    assert checked.sha256 != canary_sha, "the canary was read through a swapped parent"
                    outcomes["opened"] += 1
            except Rejected as exc:
                outcomes[exc.reason] += 1
            except FileNotFoundError:
                outcomes["vanished"] += 1
    finally:
        stop.set()
        thread.join()
    print(f"parent race: {UNIT_ITERATIONS // 2} opens, {flips} flips, outcomes {dict(outcomes)}")
    assert outcomes["opened"] > 0 and outcomes["the file is outside its folder"] > 0, outcomes


class Attacker(threading.Thread):
    """Flips the hot-folder name in bursts and swaps every claimed copy in the work area for a canary link.

    Bursts with short pauses let the daemon see the name stable and claim it (in whichever state it was
    left); swapping the work copy races the claim → pre-flight window, the one an attacker can aim at.
    """

    def __init__(self, hot: Path, canary: Path, flips: int) -> None:
        super().__init__(daemon=True)
        self.flipper = Flipper(hot / "flip.txt", canary, hot / ".faxdropd-attack")
        self.work = hot / ".faxdropd"
        self.canary, self.target, self.swapped = canary, flips, 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(1)
        try:
            while self.flipper.flips < self.target:
                for _ in range(rng.randint(20, 120)):
                    self.flipper.flip_once()
                self.swap_work_copies()
                threading.Event().wait(rng.uniform(0.0, 0.4))
                self.swap_work_copies()
            if self.flipper.flips % 2 == 1:
                self.flipper.flip_once()  # leave the harmless file, then let it be claimed
        except BaseException as exc:  # surfaced by the test thread
            self.error = exc

    def swap_work_copies(self) -> None:
        try:
            names = [p for p in self.work.iterdir() if p.name.endswith("__flip.txt") and not p.is_symlink()]
        except FileNotFoundError:
            return
        for path in names:
            tmp = self.work / f".attack-{uuid.uuid4().hex}"
            tmp.symlink_to(self.canary)
            try:
                os.replace(tmp, path)
                self.swapped += 1
            except OSError:
                tmp.unlink()


def test_daemon_flip_race_never_submits_the_canary(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    canary, marker = canary_file(tmp_path)
    canary_sha = hashlib.sha256(marker).hexdigest()
    hot = tmp_path / "hot"
    (hot / ".faxdropd-attack").mkdir(parents=True)  # hidden: the watcher ignores dot names
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+99999990"}],
        defaults={"stable_seconds": 0.1, "poll_interval": 0.1},
        extra={"delivery": {"track": False}, "limits": {"faxes_per_hour": None}},
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()
    attacker = Attacker(hot, canary, DAEMON_FLIPS)
    attacker.start()
    attacker.join(240)
    assert not attacker.is_alive() and attacker.error is None, attacker.error
    wait_for(
        lambda: not (hot / "flip.txt").exists() and not any((hot / ".faxdropd").glob("*__*")),
        60,
        interval=0.5,
        what="the last flip.txt claimed and filed",
    )

    filed = [json.loads(p.read_bytes()) for folder in ("sent", "failed") for p in (hot / folder).glob("*.receipt.json")]
    reasons = Counter(r["reason"].split(":")[0] for r in filed)
    url = emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger"
    subs = requests.get(url, timeout=10).json()["submissions"]
    print(
        f"daemon race: {attacker.flipper.flips} flips, {attacker.swapped} work-copy swaps, "
        f"{len(filed)} claims filed {dict(reasons)}, {len(subs)} submissions"
    )
    assert attacker.flipper.flips >= 10_000
    for sub in subs:
        assert sub["sha256"] != canary_sha and canary_sha not in sub["document_sha256"]
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            assert marker not in path.read_bytes(), f"canary bytes reached the emulator: {path}"
    # The race was real: claims happened while flipping, symlinks were refused, the harmless file went out.
    assert len(filed) >= 10, reasons
    assert reasons["symbolic links are never followed"] >= 1, reasons
    assert len(subs) >= 1
    assert d.proc is not None and d.proc.poll() is None
    assert marker.decode().strip() not in d.log_text()
