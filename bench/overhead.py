"""Overhead against the wire (issue #8): N documents through the daemon vs the same faxes posted raw.

Daemon time = last `job.submitted` timestamp - the moment the last file was renamed into the hot folder -
stable_seconds (the wait the configuration asks for, not overhead). Baseline time = wall time of
bench.wire.run_wire with the same number of worker threads. Each side gets a fresh emulator process.

    python bench/overhead.py [--quick]
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import NUMBER, PASSWORD, Context, EmulatorProc, Result, cpu_seconds, daemon_on, drop_all, stage
from bench.wire import run_wire

STABLE = 0.5
TARGET = 1.3


@dataclass
class Side:
    seconds: float
    client_cpu: float  # CPU seconds of the daemon process, or of this process running the wire client
    emulator_cpu: float


def daemon_side(ctx: Context, name: str, count: int, size: int, workers: int) -> Side:
    base = ctx.dir(f"overhead-{name}-daemon")
    hot = base / "inbox"
    staged = stage(base / "staging", count, size, prefix=name)
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], workers=workers, stable=STABLE) as d:
        cpu0, emu0 = cpu_seconds(d.pid), cpu_seconds(emu.pid)
        dropped = drop_all(staged, hot)
        d.wait_event("job.submitted", count, timeout=600 + count)
        cpu, emu_cpu = cpu_seconds(d.pid) - cpu0, cpu_seconds(emu.pid) - emu0
        last = max(t for t, _ in d.times("job.submitted"))
        if d.count("job.deferred", "job.failed", "job.rejected", "job.unknown"):
            raise RuntimeError(f"daemon did not submit cleanly:\n{d.tail()}")
    return Side(last - dropped - STABLE, cpu, emu_cpu)


def wire_side(ctx: Context, name: str, count: int, size: int, workers: int) -> Side:
    base = ctx.dir(f"overhead-{name}-wire")
    staged = stage(base / "staging", count, size, prefix=name)
    with EmulatorProc() as emu:
        cpu0, emu0 = _self_cpu(), cpu_seconds(emu.pid)
        seconds = run_wire(emu.url, "demo", PASSWORD, staged, NUMBER, workers=workers)
        return Side(seconds, _self_cpu() - cpu0, cpu_seconds(emu.pid) - emu0)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(ctx: Context, name: str, count: int, size: int, workers: int) -> Result:
    ctx.log(f"overhead {name}: {count} x {size} bytes, {workers} workers")
    wire = wire_side(ctx, name, count, size, workers)
    daemon = daemon_side(ctx, name, count, size, workers)
    ratio = daemon.seconds / wire.seconds
    return Result(
        bench="overhead", metric=f"{name}: {count} x {size / 1e6:g} MB, {workers} workers, daemon / wire time",
        value=round(ratio, 2), unit="x", target=f"<= {TARGET}", met=ratio <= TARGET, baseline=round(wire.seconds, 2),
        note=f"daemon {daemon.seconds:.2f} s (after the {STABLE} s stability wait), wire {wire.seconds:.2f} s; "
             f"CPU per document: daemon {daemon.client_cpu / count * 1000:.1f} ms vs wire client "
             f"{wire.client_cpu / count * 1000:.1f} ms, emulator {daemon.emulator_cpu / count * 1000:.1f} / "
             f"{wire.emulator_cpu / count * 1000:.1f} ms",
    )  # fmt: skip


def run(ctx: Context) -> list[Result]:
    if ctx.quick:
        cases = [("inline", 6, 100_000, 4), ("chunked", 2, 1_000_000, 4)]
    else:
        cases = [("inline", 500, 100_000, 4), ("chunked", 10, 20_000_000, 4)]
    return [measure(ctx, *case) for case in cases]


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "overhead", *sys.argv[1:]]))
