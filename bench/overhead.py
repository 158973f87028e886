"""Overhead against the wire (issue #8): N documents through the daemon vs the same faxes posted raw.

Daemon time = last `job.submitted` timestamp - the moment the last file was renamed into the hot folder -
stable_seconds (the wait the configuration asks for, not overhead). Baseline time = wall time of
bench.wire.run_wire with the same number of worker threads. Each side gets a fresh emulator process; with
`latency` the emulator's latency fault adds that many seconds to every SOAP call on both sides (a WAN round
trip to InterFAX is longer than 50 ms). Each repeat runs the wire side, then the daemon side; the figure is the
median of the per-repeat ratios.

    python bench/overhead.py [--quick]
"""

from __future__ import annotations

import resource
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    NUMBER,
    PASSWORD,
    Context,
    EmulatorProc,
    Result,
    cpu_seconds,
    daemon_on,
    drop_all,
    repeated,
    stage,
)  # fmt: skip
from bench.wire import run_wire

STABLE = 0.5
LOOPBACK_TARGET = 1.3  # chunked on loopback (issue #19 keeps it)
LATENCY_TARGET = 1.1  # with 50 ms per call: what an office sees
LATENCY = 0.05


@dataclass
class Side:
    seconds: float
    client_cpu: float  # CPU seconds of the daemon process, or of this process running the wire client
    emulator_cpu: float


def _slow(emu: EmulatorProc, latency: float) -> None:
    if latency:
        emu.fault(op="*", kind="latency", count=-1, seconds=latency)


def daemon_side(ctx: Context, name: str, count: int, size: int, workers: int, latency: float) -> Side:
    base = ctx.dir(f"overhead-{name}-daemon")
    hot = base / "inbox"
    staged = stage(base / "staging", count, size, prefix=name)
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], workers=workers, stable=STABLE) as d:
        _slow(emu, latency)
        cpu0, emu0 = cpu_seconds(d.pid), cpu_seconds(emu.pid)
        dropped = drop_all(staged, hot)
        d.wait_event("job.submitted", count, timeout=600 + count)
        cpu, emu_cpu = cpu_seconds(d.pid) - cpu0, cpu_seconds(emu.pid) - emu0
        last = max(t for t, _ in d.times("job.submitted"))
        if d.count("job.deferred", "job.failed", "job.rejected", "job.unknown"):
            raise RuntimeError(f"daemon did not submit cleanly:\n{d.tail()}")
    return Side(last - dropped - STABLE, cpu, emu_cpu)


def wire_side(ctx: Context, name: str, count: int, size: int, workers: int, latency: float) -> Side:
    base = ctx.dir(f"overhead-{name}-wire")
    staged = stage(base / "staging", count, size, prefix=name)
    with EmulatorProc() as emu:
        _slow(emu, latency)
        cpu0, emu0 = _self_cpu(), cpu_seconds(emu.pid)
        seconds = run_wire(emu.url, "demo", PASSWORD, staged, NUMBER, workers=workers)
        return Side(seconds, _self_cpu() - cpu0, cpu_seconds(emu.pid) - emu0)


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(ctx: Context, name: str, count: int, size: int, workers: int, latency: float) -> Result:
    where = f"{latency * 1000:.0f} ms per call" if latency else "loopback"
    ctx.log(f"overhead {name}, {where}: {count} x {size} bytes, {workers} workers")
    sides: list[tuple[Side, Side]] = []

    def one(_: int) -> float:
        wire = wire_side(ctx, name, count, size, workers, latency)
        daemon = daemon_side(ctx, name, count, size, workers, latency)
        sides.append((daemon, wire))
        return daemon.seconds / wire.seconds

    ratios = repeated(ctx, one)
    target = LATENCY_TARGET if latency else (LOOPBACK_TARGET if name == "chunked" else None)
    d_s = statistics.median(d.seconds for d, _ in sides)
    w_s = statistics.median(w.seconds for _, w in sides)
    d_cpu = statistics.median(d.client_cpu for d, _ in sides) / count * 1000
    w_cpu = statistics.median(w.client_cpu for _, w in sides) / count * 1000
    return Result.of(
        "overhead", f"{name}, {where}: {count} x {size / 1e6:g} MB, {workers} workers, daemon / wire time",
        ratios, "x", target="" if target is None else f"<= {target}", better="lower", bound=target,
        baseline=round(w_s, 2),
        note=f"median daemon {d_s:.2f} s (after the {STABLE} s stability wait), wire {w_s:.2f} s; CPU per "
             f"document: daemon {d_cpu:.1f} ms, wire client {w_cpu:.1f} ms"
             + ("" if target is not None else "; no target: the CPU guard"),
        digits=2,
    )  # fmt: skip


def run(ctx: Context) -> list[Result]:
    small, big = ((6, 100_000), (2, 1_000_000)) if ctx.quick else ((200, 100_000), (6, 20_000_000))
    cases = [("inline", *small), ("chunked", *big)]
    return [measure(ctx, name, n, size, 4, latency) for latency in (0.0, LATENCY) for name, n, size in cases]


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "overhead", *sys.argv[1:]]))
