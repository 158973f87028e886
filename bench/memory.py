"""Memory (issue #8): the daemon's peak RSS while 4 large documents upload at once, and whether that peak
depends on the document size (it must not: documents are streamed from their descriptors, never buffered).

Peak = the kernel's VmHWM of the daemon process (whole lifetime, so start-up is included) together with
VmRSS sampled every 50 ms.

    python bench/memory.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, EmulatorProc, Result, RssSampler, daemon_on, drop_all, proc_status_kb, stage

PEAK_TARGET_MB = 120.0
SAME_WITHIN = 0.10
WORKERS = 4


def peak(ctx: Context, size: int, count: int) -> tuple[float, float]:
    """(peak RSS MB, RSS MB when ready and idle) of a daemon uploading `count` documents of `size` at once."""
    base = ctx.dir(f"memory-{size}")
    hot = base / "inbox"
    staged = stage(base / "staging", count, size, prefix=f"m{size}")
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], workers=WORKERS) as d:
        idle = proc_status_kb(d.pid, "VmRSS") / 1024
        with RssSampler(d.pid) as sampler:
            drop_all(staged, hot)
            d.wait_event("job.submitted", count, timeout=600)
            if len({e["job_id"] for _, e in d.times("job.submitted")}) != count:
                raise RuntimeError("not every document was submitted")
        return sampler.peak_mb, idle


def run(ctx: Context) -> list[Result]:
    small, large = (500_000, 2_000_000) if ctx.quick else (5_000_000, 20_000_000)
    count = 4
    ctx.log(f"memory: {count} x {large} bytes at once")
    big_peak, idle = peak(ctx, large, count)
    ctx.log(f"memory: {count} x {small} bytes at once")
    small_peak, _ = peak(ctx, small, count)
    spread = abs(big_peak - small_peak) / min(big_peak, small_peak)
    return [
        Result("memory", f"daemon peak RSS, {count} x {large / 1e6:g} MB uploading at once ({WORKERS} workers)",
               round(big_peak, 1), "MB", f"<= {PEAK_TARGET_MB:g} MB", big_peak <= PEAK_TARGET_MB,
               note=f"RSS idle after start {idle:.0f} MB"),
        Result("memory", f"peak RSS {count} x {small / 1e6:g} MB vs {count} x {large / 1e6:g} MB, difference",
               round(spread * 100, 1), "%", f"<= {SAME_WITHIN * 100:g} %", spread <= SAME_WITHIN,
               note=f"{small_peak:.1f} MB vs {big_peak:.1f} MB"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "memory", *sys.argv[1:]]))
