"""CPU per small fax (issue #19): the daemon's whole CPU (user + system, every thread) per 100 KB inline
document, from the drop to the last document filed with its receipt, delivery tracking on.

The daemon runs as it does in an office: tracking on, so each fax is also polled (FaxQuery, batched 100 to a
call within the 6-a-minute budget) and filed as delivered with its receipt. CPU = utime + stime of the daemon
process from /proc/<pid>/stat just before the drop and right after the last `job.delivered` record; the few
seconds of waiting for the emulator's status delay and the tracker's poll interval are in it (they are part
of a fax's life too; at idle the daemon uses well under 1 % of a core, i.e. < 0.1 ms per fax here).

A run of 200 faxes takes a few seconds, and this shared machine's speed swings by up to 2x within minutes
(run.py's speed probe): the figure is the median of at least 5 runs (REPEATS), every run kept in the JSON.

    python bench/cpu.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    Context,
    EmulatorProc,
    Result,
    at_least,
    cpu_seconds,
    daemon_on,
    drop_all,
    repeated,
    stage,
)

SIZE = 100_000
TARGET_MS = 4.0
# InterFAX allows 6 status queries a minute; a new submission is polled at once, so 200 faxes arriving over
# a few seconds spend that budget and the rest would wait out the minute, measuring idle time rather than
# work. Both sides allow more here: the run then makes more FaxQuery calls than an office would (each
# costs CPU), so the figure errs on the high side.
QUERY_LIMIT = 600
TRACKING = {"track": True, "poll_interval": 2.0, "query_limit_per_minute": QUERY_LIMIT}
STATUS_DELAY = 0.5
REPEATS = 5


def cpu_per_fax(ctx: Context, count: int, index: int) -> float:
    """Milliseconds of daemon CPU per document for one run of `count` documents."""
    base = ctx.dir(f"cpu-{index}")
    hot = base / "inbox"
    staged = stage(base / "staging", count, SIZE, prefix=f"cpu{index}")
    with (
        EmulatorProc(status_delay=STATUS_DELAY, query_limit=QUERY_LIMIT) as emu,
        daemon_on(base, emu, [{"path": str(hot)}], workers=4, delivery=TRACKING) as d,
    ):
        cpu0 = cpu_seconds(d.pid)
        drop_all(staged, hot)
        d.wait_event("job.delivered", count, timeout=120 + count, also=("job.failed", "job.rejected"))
        cpu = cpu_seconds(d.pid) - cpu0
        if d.count("job.failed", "job.rejected", "job.deferred"):
            raise RuntimeError(f"documents did not go through cleanly:\n{d.tail()}")
    receipts = list((hot / "sent").glob("*.receipt.json"))
    if len(receipts) != count:
        raise RuntimeError(f"{len(receipts)} receipts for {count} documents")
    return cpu / count * 1000


def run(ctx: Context) -> list[Result]:
    count = 12 if ctx.quick else 200
    ctx.log(f"cpu: {at_least(ctx, REPEATS)} x {count} x {SIZE} bytes, tracking on")
    samples = repeated(ctx, lambda i: cpu_per_fax(ctx, count, i), times=at_least(ctx, REPEATS))
    return [
        Result.of(
            "cpu", f"daemon CPU per 100 KB inline fax, drop -> filed with receipt, tracking on ({count} faxes)",
            samples, "ms", target=f"<= {TARGET_MS:g} ms", better="lower", bound=TARGET_MS,
            note="user + system CPU of the daemon process / documents",
        )
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "cpu", *sys.argv[1:]]))
