"""Pickup latency (issue #8): from the writer closing a file in the hot folder to the daemon's job.claimed
record (structlog's ISO timestamp, same wall clock), p50 and p99, in events mode and in poll mode.

The writer behaves like a scanner writing in place: open, write, close, at random intervals, so files
arrive at every phase of the daemon's 0.2 s loop and of the poll cycle.

    python bench/latency.py [--quick]
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, EmulatorProc, Result, daemon_on, make_pdf, pct

STABLE = 0.5
POLL = 1.0
SLACK = 0.2


def latencies(ctx: Context, mode: str, count: int) -> list[float]:
    base = ctx.dir(f"latency-{mode}")
    hot = base / "inbox"
    rng = random.Random(8)  # the same arrival pattern on every run
    closed: dict[str, float] = {}
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], stable=STABLE, watch=mode,
                                          poll_interval=POLL) as d:  # fmt: skip
        # Let the first listing and the inotify watch settle: start-up is not part of any latency.
        time.sleep(0.5 if ctx.quick else 1.0)
        for i in range(count):
            name = f"scan-{mode}-{i:04d}.pdf"
            data = make_pdf(50_000, f"{mode} {i}")
            with open(hot / name, "wb") as f:
                f.write(data)
            closed[name] = time.time()
            time.sleep(rng.uniform(0.05, 0.35))
        d.wait_event("job.claimed", count, timeout=60 + count)
        claims = {e["file"]: t for t, e in d.times("job.claimed")}
    return [claims[name] - at for name, at in closed.items()]


def run(ctx: Context) -> list[Result]:
    counts = {"events": 2, "poll": 2} if ctx.quick else {"events": 60, "poll": 40}
    results = []
    for mode, count in counts.items():
        ctx.log(f"latency: {count} files, {mode} mode")
        values = latencies(ctx, mode, count)
        p50, p99 = pct(values, 50), pct(values, 99)
        bound = STABLE + SLACK + (POLL if mode == "poll" else 0.0)
        setting = f"stable_seconds {STABLE}" + (f", poll_interval {POLL}" if mode == "poll" else "")
        results += [
            Result("latency", f"{mode} mode: close -> claim p50 ({setting}, {count} files)", round(p50, 3), "s",
                   f"<= {bound:g} s", p50 <= bound, note=f"min {min(values):.3f} s"),
            Result("latency", f"{mode} mode: close -> claim p99", round(p99, 3), "s", "", None,
                   note=f"max {max(values):.3f} s"),
        ]  # fmt: skip
    return results


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "latency", *sys.argv[1:]]))
