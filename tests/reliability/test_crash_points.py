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
from reliability.rig import Rig, content, make_emulator

from faxdropd import crashpoints

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
                rig.drop(f"{point}-{n}-{kind}.{'txt' if kind == 'tiny' else 'pdf'}",
                         content(kind, f"{point}-{n}-{kind}", rng))
            rig.start(env={"FAXDROPD_CRASH_AT": f"{point}:{n}"}, wait=False)
            code = rig.wait_exit(120)
            assert code == -signal.SIGKILL, (
                f"{point}:{n} never fired (exit {code}):\n{rig.daemon.log_text()[-3000:]}")
            rig.kills += 1
        rig.quiesce()
        report = rig.check(all_sent=True)
        print(f"crash point {point}: kills={rig.kills} {report.line()}")
        assert rig.kills == len(ITERATIONS)
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()
