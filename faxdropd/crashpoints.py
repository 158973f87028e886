"""Named persistence points where the reliability suite can make the daemon die like a SIGKILL.

`FAXDROPD_CRASH_AT=after_claim` (or `after_claim:3` for the third time the point is reached) kills the
process at that point with SIGKILL. Unset, `hit()` costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import threading

POINTS = (
    "after_claim",
    "after_create",
    "after_uploading",
    "before_send",
    "after_send",
    "after_submitted",
    "after_outcome",  # finish.py: outcome committed, nothing filed yet
    "after_receipt",  # filing.py: receipt in place, document still in the work area
    "after_file",
    "after_final",
)
# Points off a job's own path, reached only when an operator acts (the reliability suite's POINTS loop drops
# files and would never reach them); tests/test_console.py kills the daemon there.
OPERATOR_POINTS = ("after_command_read",)  # ops/apply.py: a command read from the journal, not yet applied

_lock = threading.Lock()
_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get("FAXDROPD_CRASH_AT", "")
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth or "1")


def hit(point: str) -> None:
    # A misspelt point would silently never fire and a crash test would pass without crashing.
    assert point in POINTS or point in OPERATOR_POINTS, point
    target = _target()
    if target is None or target[0] != point:
        return
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        reached = _counts[point] >= target[1]
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
