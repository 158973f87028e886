"""T2: kill the daemon at every named persistence point, several times, then prove nothing was lost or doubled.

For each point in faxdropd.crashpoints.POINTS: three iterations, each dropping three fresh files (tiny text,
an inline ~100 KB PDF, a chunked ~500 KB PDF) and running the daemon with FAXDROPD_CRASH_AT=<point>:<n>
for n = 1, 2, 3. Every iteration must really die by SIGKILL at that point (a point that is never reached
fails the test). Then the daemon runs without the hook until quiescent, and the shared invariants hold.
"""

from __future__ import annotations

import random
import signal
from pathlib import Path

import pytest

from faxdropd import crashpoints
from reliability.rig import Rig, content, make_emulator

pytestmark = pytest.mark.reliability

ITERATIONS = (1, 2, 3)


@pytest.mark.parametrize("point", crashpoints.POINTS)
def test_kill_at_every_persistence_point(tmp_path: Path, point: str) -> None:
    emulator = make_emulator(tmp_path / "store")
    # inline_max_bytes is lowered so the "chunked" file really takes the StartFileUpload path at ~500 KB.
    rig = Rig(tmp_path, emulator, extra={"interfax": {"inline_max_bytes": 200_000, "chunk_size": 100_000}})
    rng = random.Random(point)
    try:
        for n in ITERATIONS:
            for kind in ("tiny", "inline", "chunked"):
                rig.drop(
                    f"{point}-{n}-{kind}.{'txt' if kind == 'tiny' else 'pdf'}",
                    content(kind, f"{point}-{n}-{kind}", rng),
                )
            rig.start(env={"FAXDROPD_CRASH_AT": f"{point}:{n}"}, wait=False)
            code = rig.wait_exit(120)
            assert code == -signal.SIGKILL, f"{point}:{n} never fired (exit {code}):\n{rig.daemon.log_text()[-3000:]}"
            rig.kills += 1
        rig.quiesce()
        report = rig.check(all_sent=True)
        print(f"crash point {point}: kills={rig.kills} {report.line()}")
        assert rig.kills == len(ITERATIONS)
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()


def test_the_invariant_check_can_fail(tmp_path: Path) -> None:
    """A test of the test: a resend of filed content, a leftover work file and a lost input are all caught."""
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=False)
    try:
        rig.start()
        rig.drop("once.txt", b"sent exactly once\n")
        rig.quiesce()
        rig.check(all_sent=True)
        # A lost input: the model expects one more document than was ever filed.
        rig.inputs.append(b"never dropped\n")
        with pytest.raises(AssertionError, match="lost"):
            rig.check()
        rig.inputs.pop()
        # A leftover claimed file in the work area.
        stray = rig.hot / ".faxdropd" / "deadbeef__stray.txt"
        stray.write_bytes(b"x")
        with pytest.raises(AssertionError, match="work area"):
            rig.check()
        stray.unlink()
        # The same content sent a second time (as a buggy resend would): the ledger oracle must object.
        sent = rig.hot / "sent" / "once.txt"
        sent.with_name("once.txt.receipt.json").unlink()
        sent.rename(rig.hot / "again.txt")
        rig.quiesce()
        with pytest.raises(AssertionError, match="more often than dropped"):
            rig.check()
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()


def test_transient_retries_are_not_counted_as_crashes(tmp_path: Path) -> None:
    """The poison-pill quarantine (T18) counts processing starts that killed the daemon; a document that
    InterFAX merely refused three times with a transient error must still be sent, not quarantined."""
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=False)
    try:
        rig.fault(op="SendfaxEx_2", kind="http500", count=4)
        rig.start()
        rig.drop("retried.txt", b"refused four times, then accepted\n")
        rig.quiesce()
        report = rig.check(all_sent=True)
        assert report.submissions == 1
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()
