"""T1: the SIGKILL soak. Files of mixed sizes arrive over time while the daemon is killed and restarted.

Delivery tracking is ON (delivery.track: true, emulator status_delay 0.2 s), so kills also land between
submission, status polling and filing. duplicate_window 0 and faxes_per_hour null: every content is distinct
and none is held back. The kill interval is uniform 0.2-3 s after each restart's `daemon.ready`.

Random kills alone almost never land inside a send (SendfaxEx_2 takes milliseconds of each second), so they are
no evidence that a send cut short is never sent again. A seeded share of the restarts (ARMED_SHARE) is therefore
armed with a crash point inside the send (`before_send` or `after_send`, the N-th job to reach it, sometimes only
chunked ones): that daemon dies there, or at its interval if no job gets there first. Before every restart the
journal's `submitting` jobs are counted and looked up in the emulator's ledger, so the FIGURE line reports how many
kills landed inside a send (`kills_in_send`) and how many after InterFAX had accepted the fax but before the daemon
recorded it (`kills_after_accept`: the window a resend would double); both must be > 0.

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

from reliability.invariants import caught_in_send
from reliability.rig import Rig, content, make_emulator

pytestmark = pytest.mark.reliability

SOAK_SECONDS = float(os.environ.get("FAXDROPD_SOAK_SECONDS", "120"))
SOAK_FILES = int(os.environ.get("FAXDROPD_SOAK_FILES", "500"))
SEED = int(os.environ.get("FAXDROPD_SOAK_SEED", "20261204"))


# A quarter of the restarts are armed: enough for a dozen kills inside sends at the defaults, while most kills
# stay random and keep landing everywhere else (claim, upload, polling, filing).
ARMED_SHARE = 0.25
SEND_POINTS = ("before_send", "after_send")


def _kind(rng: random.Random) -> str:
    roll = rng.random()
    return "tiny" if roll < 0.6 else "inline" if roll < 0.9 else "chunked"


def _arm(rng: random.Random) -> str | None:
    """The crash point of the next restart (FAXDROPD_CRASH_AT), or None for a random kill only."""
    if rng.random() >= ARMED_SHARE:
        return None
    spec = f"{rng.choice(SEND_POINTS)}:{rng.randint(1, 3)}"
    # Chunked files are a tenth of the drops: aimed at on purpose, the kill also meets an uploaded session.
    return spec + ":chunked" if rng.random() < 0.3 else spec


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
                # The kind is in the name so that a crash point's selector can aim at it.
                rig.drop(f"soak-{i:05}-{kind}.{'txt' if kind == 'tiny' else 'pdf'}", data)
                time.sleep(gap)  # pacing: files keep arriving over the whole soak, not in one burst
        except BaseException as exc:  # reported by the main thread
            dropper_error.append(exc)

    thread = threading.Thread(target=dropper, name="dropper")
    started = time.monotonic()
    # "start#:spec[ fired]" of every armed restart, in order: the seed fixes the specs, thread timing what fires.
    armed: list[str] = []
    fired = in_send = after_accept = 0
    try:
        rig.start()
        thread.start()
        crash_at: str | None = None
        while True:
            interval = rng.uniform(0.2, 3.0)  # kills at random moments (seeded): the interval is the point
            hooked = crash_at is not None and rig.died_by_hook(interval)
            if not hooked:
                if crash_at is None:
                    time.sleep(interval)
                assert rig.running, f"seed={SEED}: daemon died on its own:\n{rig.daemon.log_text()[-3000:]}"
                rig.kill()
            submitting, accepted = caught_in_send(rig.state_dir, emulator)
            in_send += submitting > 0
            after_accept += accepted > 0
            if hooked:
                fired += 1
                armed[-1] += " fired"
                # Both points are reached by a job journaled `submitting`, after_send once the emulator has it: a
                # hook death that the journal and the ledger do not show would make the counts above meaningless.
                assert submitting and (accepted or str(crash_at).startswith("before")), (
                    f"seed={SEED}: {crash_at} fired, yet submitting={submitting} accepted={accepted}"
                )
            if not (time.monotonic() - started < SOAK_SECONDS or thread.is_alive()):
                break
            crash_at = _arm(rng)
            if crash_at is None:
                rig.start()
            else:
                armed.append(f"{rig.daemon.starts + 1}:{crash_at}")
                rig.start_armed(crash_at)
        rig.start()  # the last one unarmed: quiescing must not meet a crash point
        thread.join()
        assert not dropper_error, dropper_error
        soak_s = time.monotonic() - started
        rig.quiesce()
        report = rig.check(all_sent=True)
        line = (
            f"SIGKILL soak seed={SEED}: files={len(rig.inputs)} "
            f"(tiny={kinds.count('tiny')} inline={kinds.count('inline')} chunked={kinds.count('chunked')}) "
            f"kills={rig.kills} (armed={len(armed)} fired={fired} in_send={in_send} after_accept={after_accept}) "
            f"soak_s={soak_s:.0f} total_s={time.monotonic() - started:.0f} {report.line()} armed_starts={armed}"
        )
        print("\n" + line)
        counts = {"tiny": kinds.count("tiny"), "inline": kinds.count("inline"), "chunked": kinds.count("chunked")}
        numbers = {"files": len(rig.inputs), **counts, "kills": rig.kills, "armed": len(armed), "hook_kills": fired}
        numbers |= {"kills_in_send": in_send, "kills_after_accept": after_accept, "soak_s": round(soak_s)}
        result = {"lost": report.losses, "duplicates": report.duplicates, "submissions": report.submissions}
        print("FIGURE " + json.dumps({"test": "crash_soak", "seed": SEED, **numbers, **result}))
        # Every figure the line reports is asserted: all delivered, each submitted exactly once, none lost.
        assert report.inputs == SOAK_FILES == len(rig.inputs), line
        assert report.sent == SOAK_FILES and report.failed == 0, line
        assert report.outcomes == {"delivered": SOAK_FILES}, line
        assert report.submissions == SOAK_FILES, line
        assert report.losses == 0 and report.duplicates == 0, line
        assert rig.kills >= 10, line
        # The "0 duplicates" above is evidence for a send cut short only if kills really cut sends short.
        assert in_send > 0 and after_accept > 0, line
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()
