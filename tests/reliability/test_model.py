"""T15: a model-based state machine over the real daemon, the real emulator and a real hot folder.

Rules: drop a new document (tiny text or a chunked PDF), grow a file while it is being written, re-drop an
earlier document's exact content under a new name, SIGKILL the daemon, restart it, arm an emulator fault
(reset / http500 / error -150 / http500_after_accept on SendfaxEx_2 or UploadFileChunk), let time pass.
The model is the list of dropped contents. Policy picked: duplicate_window 0, so a re-drop is a deliberate
new fax and must be submitted again as its own job (its own reference): the expected number of submissions
per content equals the number of times it was dropped, never more.

After every step: no reference submitted twice, no content submitted more often than dropped (these hold
even mid-flight). At the end of every example: faults cleared, the daemon run to quiescence, and the full
invariant check, with every document expected in sent/ (every fault is transient or reconcilable).
Size: FAXDROPD_MODEL_EXAMPLES (default 6) x FAXDROPD_MODEL_STEPS (default 15), about two minutes here.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from reliability.invariants import ledger, sha
from reliability.rig import Rig, content, make_emulator

pytestmark = pytest.mark.reliability

EXAMPLES = int(os.environ.get("FAXDROPD_MODEL_EXAMPLES", "6"))
STEPS = int(os.environ.get("FAXDROPD_MODEL_STEPS", "15"))


class DaemonMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="faxdropd-model-"))
        self.emulator = make_emulator(self.root / "store")
        # stable_seconds 1.0 > the gaps of the growing writer below: a half-written file must never be taken.
        self.rig = Rig(
            self.root,
            self.emulator,
            track=True,
            defaults={"stable_seconds": 1.0},
            extra={"interfax": {"inline_max_bytes": 100_000, "chunk_size": 60_000}},
        )
        self.rng = random.Random(0)
        self.serial = 0

    @initialize()
    def boot(self) -> None:
        self.rig.start()
        # Every example starts with work in flight, so short step sequences still exercise something.
        self.drop("tiny")
        self.drop("chunked")

    def _name(self, ext: str) -> str:
        self.serial += 1
        return f"m{self.serial:03}.{ext}"

    @rule(kind=st.sampled_from(["tiny", "chunked"]))
    def drop(self, kind: str) -> None:
        data = content(kind, f"{self.root.name}-{self.serial}", self.rng)
        self.rig.drop(self._name("txt" if kind == "tiny" else "pdf"), data)

    @rule(parts=st.integers(min_value=2, max_value=4))
    def grow(self, parts: int) -> None:
        """Write a file in place in pieces, as a scanner does; only the complete content may be sent."""
        data = content("chunked", f"{self.root.name}-grow-{self.serial}", self.rng)
        path = self.rig.hot / self._name("pdf")
        step = len(data) // parts + 1
        with path.open("wb") as f:
            for i in range(0, len(data), step):
                f.write(data[i : i + step])
                f.flush()
                time.sleep(0.3)  # a scanner's pace: the pauses are the behaviour under test, not a wait
        self.rig.inputs.append(data)

    @precondition(lambda self: bool(self.rig.inputs))
    @rule(pick=st.integers(min_value=0, max_value=10_000))
    def redrop(self, pick: int) -> None:
        data = self.rig.inputs[pick % len(self.rig.inputs)]
        self.rig.drop(self._name("pdf" if data.startswith(b"%PDF") else "txt"), data)

    @precondition(lambda self: self.rig.running)
    @rule(delay=st.floats(min_value=0.0, max_value=2.0))
    def crash(self, delay: float) -> None:
        time.sleep(delay)  # the kill lands at a random moment of whatever is running: the delay is the point
        self.rig.kill()

    @precondition(lambda self: not self.rig.running)
    @rule()
    def restart(self) -> None:
        self.rig.start()

    @rule(
        op=st.sampled_from(["SendfaxEx_2", "UploadFileChunk"]),
        kind=st.sampled_from(["reset", "http500", "error", "http500_after_accept"]),
        count=st.integers(min_value=1, max_value=2),
        after=st.integers(min_value=0, max_value=2),
    )
    def fault(self, op: str, kind: str, count: int, after: int) -> None:
        self.rig.fault(op=op, kind=kind, count=count, after=after, code=-150)

    @rule(seconds=st.floats(min_value=0.5, max_value=3.0))
    def settle(self, seconds: float) -> None:
        # Time passing is the rule: the daemon works on between two other rules; the invariants are checked after.
        time.sleep(seconds)

    @invariant()
    def never_doubled(self) -> None:
        subs = ledger(self.emulator)["submissions"]
        per_ref = Counter(s["job_id"] for s in subs)
        assert max(per_ref.values(), default=0) <= 1, f"a reference was submitted twice: {per_ref}"
        dropped = Counter(sha(d) for d in self.rig.inputs)
        over = {h: n for h, n in Counter(s["sha256"] for s in subs).items() if n > dropped[h]}
        assert not over, f"content submitted more often than dropped: {over}"

    def teardown(self) -> None:
        try:
            self.rig.clear_faults()
            self.rig.quiesce(timeout=300)
            report = self.rig.check(all_sent=True)
            # duplicate_window 0: each re-drop is a separate, deliberate fax with its own reference.
            assert report.submissions == len(self.rig.inputs)
            print(f"model example: kills={self.rig.kills} {report.line()}")
            self.rig.stop()
        finally:
            self.rig.kill()
            self.emulator.stop()
            shutil.rmtree(self.root, ignore_errors=True)


DaemonMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=False,
    suppress_health_check=list(HealthCheck),
    database=None,
)
TestDaemonModel = DaemonMachine.TestCase
