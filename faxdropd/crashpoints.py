"""Named persistence points where the reliability suite can make the daemon die like a SIGKILL.

`FAXDROPD_CRASH_AT=POINT[:N[:SELECTOR]]` kills the process with SIGKILL the N-th time (default 1) POINT is reached
by a job that SELECTOR picks: `file=GLOB` matches the document's file name (fnmatch), a bare word (`chunked`,
`broadcast`, ...) is short for `file=*WORD*`. Without a selector every job counts, as before.

The selector is by file name, not by a path kind the daemon derives, because the earliest points (`after_claim`,
`after_create`) come before the document is read: there the name is all the daemon knows, and a selector that could
not see a job at one point would count it at the next and kill the wrong path. The crash matrix names each file by
its path (inline, chunked, broadcast, cover) so the two spell the same thing.

Unset, `hit()` costs one dictionary lookup: the spec is parsed once, when the variable is first seen set.
"""

from __future__ import annotations

import fnmatch
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
# The paths a job can take, as the crash matrix names its files; a bare selector word must be one of them.
KINDS = ("inline", "chunked", "broadcast", "cover", "tiny")

_lock = threading.Lock()
_counts: dict[str, int] = {}
_parsed: dict[str, tuple[str, int, str | None]] = {}


def parse(spec: str) -> tuple[str, int, str | None]:
    """(point, n, file-name glob or None); a malformed spec raises, so a crash test cannot pass by never firing."""
    name, _, rest = spec.partition(":")
    nth, _, selector = rest.partition(":")
    if name not in POINTS and name not in OPERATOR_POINTS:
        raise ValueError(f"FAXDROPD_CRASH_AT: unknown point {name!r}")
    if not selector:
        return name, int(nth or "1"), None
    if selector.startswith("file="):
        return name, int(nth or "1"), selector[len("file=") :]
    if selector not in KINDS:
        raise ValueError(f"FAXDROPD_CRASH_AT: selector {selector!r} is neither file=GLOB nor one of {KINDS}")
    return name, int(nth or "1"), f"*{selector}*"


def hit(point: str, name: str | None = None) -> None:
    """Reached `point` for the document called `name` (None: no particular document)."""
    # A misspelt point would silently never fire and a crash test would pass without crashing.
    assert point in POINTS or point in OPERATOR_POINTS, point
    spec = os.environ.get("FAXDROPD_CRASH_AT")
    if not spec:
        return
    target = _parsed.get(spec)
    if target is None:
        target = _parsed[spec] = parse(spec)
    if target[0] != point:
        return
    if target[2] is not None and (name is None or not fnmatch.fnmatchcase(name, target[2])):
        return
    with _lock:
        _counts[point] = _counts.get(point, 0) + 1
        reached = _counts[point] >= target[1]
    if reached:
        os.kill(os.getpid(), signal.SIGKILL)
