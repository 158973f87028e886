"""Power loss, simulated for real: the state dir and a hot folder live on powerfs, which forgets at a cut everything
that was not fsync'd (file data, and names whose directory was not fsync'd).

A busy run (tiny, inline and chunked files dropped over time, delivery tracked) is cut FAXDROPD_POWER_CUTS times
(10 by default) at random moments: the daemon is SIGKILLed and the power cut at the same instant, the filesystem
remounted over what survived, the daemon restarted. Then it runs until quiescent and the shared invariants hold:
0 lost, 0 duplicate submissions (the emulator's ledger, kept outside powerfs: it is InterFAX), integrity_check ok.

What counts as an input: a file the dropper wrote, fsync'd, renamed into the hot folder and whose hot folder it
fsync'd, as a scanner's completed write over a share is durable before the scanner reports it done. A cut never
falls inside one drop (the dropper holds the lock the cut takes), so every input is either durable or not dropped.
FAXDROPD_POWER_SEED makes a run reproducible; the seed is printed with the figure.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from faxdropd.jobs.journal import Journal
from faxdropd.jobs.schema import journal_path
from reliability.powerfs import PowerFs, fuse_unavailable
from reliability.rig import Rig, content, make_emulator

pytestmark = pytest.mark.reliability

CUTS = int(os.environ.get("FAXDROPD_POWER_CUTS", "10"))
SEED = int(os.environ.get("FAXDROPD_POWER_SEED", "14"))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_drop(hot: Path, name: str, data: bytes) -> None:
    """Write under a hidden name, fsync, rename into place, fsync the folder: the drop is complete and durable."""
    tmp = hot / f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, hot / name)
    fsync_dir(hot)


class Dropper(threading.Thread):
    """Drops mixed files at random intervals; `lock` is held for each whole drop, so a cut never splits one."""

    def __init__(self, rig: Rig, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.rig = rig
        self.rng = rng
        self.lock = threading.Lock()
        self.halt = threading.Event()
        self.error: BaseException | None = None
        self.count = 0

    def run(self) -> None:
        try:
            while not self.halt.wait(self.rng.uniform(0.05, 0.4)):
                kind = self.rng.choices(("tiny", "inline", "chunked"), weights=(6, 3, 1))[0]
                data = content(kind, f"power-{self.count}", self.rng)
                name = f"power-{self.count:04d}-{kind}.{'txt' if kind == 'tiny' else 'pdf'}"
                with self.lock:
                    durable_drop(self.rig.hot, name, data)
                    self.rig.inputs.append(data)
                self.count += 1
        except BaseException as exc:  # surfaced by the test: a dropper that died silently would shrink the run
            self.error = exc


def mounted(tmp_path: Path) -> PowerFs:
    reason = fuse_unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"powerfs cannot run under CI: {reason}")
        pytest.skip(f"powerfs cannot run here: {reason}")
    fs = PowerFs(tmp_path / "storage", tmp_path / "mnt")
    fs.mount()
    for sub in ("hot", "state"):
        (fs.mountpoint / sub).mkdir()
    fsync_dir(fs.mountpoint)
    return fs


def test_power_cuts_during_a_busy_run_lose_and_double_nothing(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    fs = mounted(tmp_path)
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(
        tmp_path,
        emulator,
        hot=fs.mountpoint / "hot",
        state_dir=fs.mountpoint / "state",
        extra={"interfax": {"inline_max_bytes": 200_000, "chunk_size": 100_000}},
    )
    dropper = Dropper(rig, rng)
    dropped: dict[str, int] = {}
    started = time.monotonic()
    try:
        rig.start(wait=False)
        dropper.start()
        for _ in range(CUTS):
            # Random moments of the run: some cuts land in a burst of claims, some mid-upload or mid-filing.
            time.sleep(rng.uniform(0.5, 4.0))  # seeded, so the cuts' moments are reproducible
            with dropper.lock:
                rig.kill()  # SIGKILL and the cut together are the power loss: no process outlives it
                report = fs.cut()
                dropped = {k: dropped.get(k, 0) + v for k, v in report.items() if k.startswith("last_cut_")}
                fs.remount()
                rig.start(wait=False)
            assert dropper.error is None, dropper.error
        dropper.halt.set()
        dropper.join(30)
        assert dropper.error is None, dropper.error
        rig.quiesce()
        result = rig.check()
        figure = {
            "test": "power_loss",
            "seed": SEED,
            "cuts": CUTS,
            "files": result.inputs,
            "lost": result.losses,
            "duplicates": result.duplicates,
            "submissions": result.submissions,
            "bytes_dropped": dropped.get("last_cut_bytes_dropped", 0),
            "seconds": round(time.monotonic() - started),
        }
        print(f"power loss: {result.line()} dropped_by_cuts={dropped}")
        print("FIGURE " + json.dumps(figure))
        # The cuts must have thrown something away, or the run proved nothing about unsynced state.
        assert sum(dropped.values()) > 0, dropped
        assert result.inputs >= CUTS, "too few files dropped for the cuts to meet work in flight"
        rig.stop()
    finally:
        dropper.halt.set()
        rig.kill()
        emulator.stop()
        fs.unmount()


def test_the_journal_commits_with_synchronous_full(tmp_path: Path) -> None:
    """The pragma the power-loss run depends on, asserted directly on the connection the daemon writes through:
    WAL with synchronous=FULL fsyncs the WAL at every commit (NORMAL would not; OFF never does)."""
    journal = Journal(tmp_path / "state")
    try:
        db = journal._db  # the daemon's own connection: pragmas are per connection, a second one proves nothing
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 2, "synchronous is not FULL"
    finally:
        journal.close()


MARKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from faxdropd.jobs.journal import Job, Journal, State

    journal = Journal(Path(sys.argv[1]))
    job = journal.create(Job(id="j1", reference="fd-j1", folder="f", hot="/hot", name="a.pdf",
                             work_path="/work/a.pdf", sidecar_path=None, state=State.CLAIMED))
    journal.mark(job, "processing", delivery={"processing_starts": 1})
    if sys.argv[2] == "then-durable":
        journal.set_meta("later", "durable")
    print("committed", flush=True)
    sys.stdin.read()  # holds the journal open, like the daemon, until SIGKILL
    """
)


def starts_recorded(state_dir: Path) -> int | None:
    """processing_starts of the one job (None: no job at all).

    Read-only: the last connection to close checkpoints the WAL into the database, with an fsync, and a reader
    that did that would make the mark durable itself."""
    db = sqlite3.connect(f"file:{journal_path(state_dir)}?mode=ro", uri=True, timeout=10)
    try:
        row = db.execute("SELECT delivery FROM jobs WHERE id = 'j1'").fetchone()
        return None if row is None else int(json.loads(row[0]).get("processing_starts", 0))
    finally:
        db.close()


@pytest.mark.parametrize("after", ["nothing", "then-durable"])
def test_a_mark_outlives_a_crash_and_a_cut_only_after_a_durable_commit(tmp_path: Path, after: str) -> None:
    """Journal.mark (the crash counter of a document being processed) commits without an fsync: it must survive
    the process dying (SIGKILL), it may be lost at a power cut, and the next durable commit carries it along."""
    fs = mounted(tmp_path)
    state_dir = fs.mountpoint / "state"
    script = tmp_path / "marker.py"
    script.write_text(MARKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), *sys.path])}
    proc = subprocess.Popen([sys.executable, str(script), str(state_dir), after], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == b"committed\n", (line, proc.stderr.read() if proc.stderr else b"")
        proc.send_signal(signal.SIGKILL)  # a crash: nothing of the process is left to flush anything
        proc.wait(30)
        assert starts_recorded(state_dir) == 1, "a mark did not outlive the process"
        fs.cut()
        fs.remount()
        # The job's creation was durable either way; the mark is durable only when a durable commit followed it.
        assert starts_recorded(state_dir) == (1 if after == "then-durable" else 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        fs.unmount()
