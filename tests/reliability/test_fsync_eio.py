"""fsync EIO inside SQLite (T8's other half): the journal's own sync fails, as on a dying disk.

No mock: `native/fsync_eio.c`, built here with the C compiler and LD_PRELOADed into the daemon, makes the real
fsync/fdatasync of the journal's files fail with EIO from the moment the test creates a trigger file, in the
middle of a run. Expected: the daemon exits 74 (`journal.write_failed`) instead of carrying on from a picture
the disk may not hold; the restart, on a healthy disk, files every document with exactly one submission each,
whatever state the failed commit was recording (after an fsync error its frames may or may not be on disk).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from daemonkit import wait_for

from reliability.invariants import ledger
from reliability.rig import Rig, make_emulator

pytestmark = pytest.mark.reliability

SOURCE = Path(__file__).resolve().parent / "native" / "fsync_eio.c"


@pytest.fixture(scope="module")
def preload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the fsync-EIO preload (.ci/run installs gcc)")
    out = tmp_path_factory.mktemp("native") / "fsync_eio.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-O2", "-o", str(out), str(SOURCE), "-ldl"], check=True,
                   timeout=120)  # fmt: skip
    return out


@pytest.mark.parametrize("after", [1, 12])
def test_journal_fsync_eio_exits_74_and_restart_sends_each_once(tmp_path: Path, preload: Path, after: int) -> None:
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=True)
    trigger = tmp_path / "disk-is-dying"
    try:
        for i in range(24):
            rig.drop(f"e{i:02}.txt", f"fsync eio {after} {i}\n".encode())
        rig.start(env={"LD_PRELOAD": str(preload), "FSYNC_EIO_MATCH": "journal.sqlite3",
                       "FSYNC_EIO_TRIGGER": str(trigger)})  # fmt: skip
        wait_for(lambda: len(ledger(emulator)["submissions"]) >= after, 120, what=f"{after} submissions")
        trigger.touch()  # from now on every sync of the journal fails
        code = rig.wait_exit(120)
        log = rig.daemon.log_text()
        assert code == 74, f"expected exit 74 when the journal's fsync fails, got {code}:\n{log[-3000:]}"
        assert '"journal.write_failed"' in log and "disk I/O error" in log
        submitted_before = len(ledger(emulator)["submissions"])
        trigger.unlink()
        rig.quiesce()
        report = rig.check(all_sent=True)
        print(
            f"\nfsync EIO after {after} submissions: exit={code}, {submitted_before} submitted before; {report.line()}"
        )
        rig.stop()
    finally:
        rig.kill()
        emulator.stop()
