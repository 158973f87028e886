"""Concurrency (issue #8): with 200 ms of emulator latency on every SOAP call, throughput with 8 workers
against 1 worker. The daemon is latency-bound here, not CPU-bound, so 8 workers should give nearly 8 x.

Throughput = documents / (last job.submitted - drop - stable_seconds). Small documents: one SendfaxEx_2
call each, so the ideal is workers / 0.2 s.

    python bench/concurrency.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, EmulatorProc, Result, daemon_on, drop_all, stage

LATENCY = 0.2
STABLE = 0.5
TARGET = 6.0


def throughput(ctx: Context, workers: int, count: int) -> float:
    base = ctx.dir(f"concurrency-{workers}")
    hot = base / "inbox"
    staged = stage(base / "staging", count, 20_000, prefix=f"c{workers}")
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], workers=workers, stable=STABLE) as d:
        emu.fault(op="*", kind="latency", count=-1, seconds=LATENCY)
        dropped = drop_all(staged, hot)
        d.wait_event("job.submitted", count, timeout=60 + count * LATENCY * 2)
        last = max(t for t, _ in d.times("job.submitted"))
    return count / (last - dropped - STABLE)


def run(ctx: Context) -> list[Result]:
    one_n, eight_n = (4, 16) if ctx.quick else (30, 200)
    ctx.log(f"concurrency: 1 worker, {one_n} documents, {LATENCY} s per call")
    one = throughput(ctx, 1, one_n)
    ctx.log(f"concurrency: 8 workers, {eight_n} documents, {LATENCY} s per call")
    eight = throughput(ctx, 8, eight_n)
    ratio = eight / one
    return [
        Result("concurrency", f"throughput 8 workers / 1 worker, {LATENCY * 1000:.0f} ms latency per call",
               round(ratio, 2), "x", f">= {TARGET:g} x", ratio >= TARGET, baseline=round(one, 2),
               note=f"{eight:.1f} vs {one:.2f} docs/s (ideal {8 / LATENCY:.0f} vs {1 / LATENCY:.0f}); "
                    f"{eight_n} and {one_n} documents; baseline = 1-worker docs/s"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "concurrency", *sys.argv[1:]]))
