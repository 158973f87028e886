"""T1: the SIGKILL soak. Files of mixed sizes arrive over time while the daemon is killed and restarted.

Delivery tracking is ON (delivery.track: true, emulator status_delay 0.2 s), so kills also land between
submission, status polling and filing. duplicate_window 0 and faxes_per_hour null: every content is distinct
and none is held back. The kill interval is uniform 0.2-3 s after each restart's `daemon.ready`.

CI default: 500 files over 120 s with seed 20261204. Longer: FAXDROPD_SOAK_SECONDS=3600 FAXDROPD_SOAK_FILES=10000;
another schedule: FAXDROPD_SOAK_SEED=N. The seed fixes the files and the kill intervals (not the thread timing), and
every assertion message carries it, so a failure names the run that reproduces it.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from pathlib import Path

import pytest

from reliability.rig import Rig, content, make_emulator

pytestmark = pytest.mark.reliability

SOAK_SECONDS = float(os.environ.get("FAXDROPD_SOAK_SECONDS", "120"))
SOAK_FILES = int(os.environ.get("FAXDROPD_SOAK_FILES", "500"))
SEED = int(os.environ.get("FAXDROPD_SOAK_SEED", "20261204"))


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    return "tiny" if roll < 0.6 else "inline" if roll < 0.9 else "chunked"


def test_sigkill_soak(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=True)
    kinds = [_kind(rng) for _ in range(SOAK_FILES)]
    payloads = [content(k, f"soak-{i}", rng) for i, k in enumerate(kinds)]
    # Dropping finishes at ~80 % of the soak so the last files still meet some kills.
    gap = SOAK_SECONDS * 0.8 / SOAK_FILES
    dropper_error: list[BaseException] = []

    def dropper() -> None:
        try:
            for i, (kind, data) in enumerate(zip(kinds, payloads, strict=True)):
                rig.drop(f"soak-{i:05}.{'txt' if kind == 'tiny' else 'pdf'}", data)
                time.sleep(gap)  # pacing: files keep arriving over the whole soak, not in one burst
        except BaseException as exc:  # reported by the main thread
            dropper_error.append(exc)

    thread = threading.Thread(target=dropper, name="dropper")
    started = time.monotonic()
    try:
        rig.start()
        thread.start()
        while time.monotonic() - started < SOAK_SECONDS or thread.is_alive():
            time.sleep(rng.uniform(0.2, 3.0))  # kills at random moments (seeded): the interval is the point
            assert rig.running, f"seed={SEED}: daemon died on its own:\n{rig.daemon.log_text()[-3000:]}"
            rig.kill()
            rig.start()
        thread.join()
        assert not dropper_error, dropper_error
        soak_s = time.monotonic() - started
        rig.quiesce()
        report = rig.check(all_sent=True)
        line = (
            f"SIGKILL soak seed={SEED}: files={len(rig.inputs)} "
            f"(tiny={kinds.count('tiny')} inline={kinds.count('inline')} chunked={kinds.count('chunked')}) "
            f"kills={rig.kills} soak_s={soak_s:.0f} total_s={time.monotonic() - started:.0f} {report.line()}"
        )
        print("\n" + line)
        counts = {"tiny": kinds.count("tiny"), "inline": kinds.count("inline"), "chunked": kinds.count("chunked")}
        numbers = {"files": len(rig.inputs), **counts, "kills": rig.kills, "soak_s": round(soak_s)}
        result = {"lost": report.losses, "duplicates": report.duplicates, "submissions": report.submissions}
        print("FIGURE " + json.dumps({"test": "crash_soak", "seed": SEED, **numbers, **result}))
        # Every figure the line reports is asserted: all delivered, each submitted exactly once, none lost.
        assert report.inputs == SOAK_FILES == len(rig.inputs), line
        assert report.sent == SOAK_FILES and report.failed == 0, line
        assert report.outcomes == {"delivered": SOAK_FILES}, line
        assert report.submissions == SOAK_FILES, line
        assert report.losses == 0 and report.duplicates == 0, line
        assert rig.kills >= 10, line
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()
