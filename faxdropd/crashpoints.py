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
    "after_command_read",  # ops/apply.py: an operator's command read from the journal, not yet applied
)

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
    assert point in POINTS, point
    target = _target()
    if target is None or target[0] != point:
        return
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        reached = _counts[point] >= target[1]
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
