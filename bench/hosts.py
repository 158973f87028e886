"""Two hosts on one share (issue #19, the multi-host work): two daemons watching ONE hot folder, each with its
own state_dir, instance name and 4 workers, against one daemon alone, with 200 ms added to every InterFAX call.

Latency-bound on purpose: each host can have 4 calls in flight, so two hosts should nearly double the
throughput. Throughput = documents / (last `job.submitted` of any host - drop - stable_seconds). Duplicates =
submissions the emulator received minus the distinct documents among them (every staged document is unique);
every document must be submitted exactly once and filed once.

    python bench/hosts.py [--quick]
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, DaemonProc, EmulatorProc, Result, daemon_on, drop_all, repeated, stage

LATENCY = 0.2
STABLE = 0.5
WORKERS = 4
TARGET = 1.8


def throughput(ctx: Context, hosts: int, count: int, index: int, duplicates: list[int]) -> float:
    base = ctx.dir(f"hosts-{hosts}-{index}")
    hot = base / "shared" / "inbox"
    staged = stage(base / "staging", count, 20_000, prefix=f"h{hosts}r{index}")
    with EmulatorProc() as emu, contextlib.ExitStack() as stack:
        emu.fault(op="*", kind="latency", count=-1, seconds=LATENCY)
        daemons: list[DaemonProc] = [
            stack.enter_context(
                daemon_on(
                    base / f"host{i}",
                    emu,
                    [{"path": str(hot)}],
                    workers=WORKERS,
                    stable=STABLE,
                    extra={"instance": f"h{i}"},
                )
            )
            for i in range(hosts)
        ]
        dropped = drop_all(staged, hot)
        _wait_all(daemons, count, timeout=60 + count * LATENCY * 2)
        last = max(t for d in daemons for t, _ in d.times("job.submitted"))
        submissions = emu.ledger()["submissions"]
    distinct = {s["sha256"] for s in submissions}
    if len(distinct) != count:
        raise RuntimeError(f"{len(distinct)} distinct documents submitted of {count}")
    duplicates.append(len(submissions) - len(distinct))
    return count / (last - dropped - STABLE)


def _wait_all(daemons: list[DaemonProc], count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while sum(d.count("job.submitted") for d in daemons) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"not all {count} submitted:\n" + "\n".join(d.tail(5) for d in daemons))
        time.sleep(0.2)


def run(ctx: Context) -> list[Result]:
    count = 16 if ctx.quick else 200
    duplicates: list[int] = []
    ctx.log(f"hosts: {ctx.repeats} x (1 host, then 2 hosts) x {count} documents, {LATENCY} s per call")
    pairs: list[tuple[float, float]] = []

    def one(i: int) -> float:
        single = throughput(ctx, 1, count, i, duplicates)
        double = throughput(ctx, 2, count, i, duplicates)
        pairs.append((single, double))
        return double / single

    ratios = repeated(ctx, one)
    singles = sorted(s for s, _ in pairs)
    doubles = sorted(d for _, d in pairs)
    return [
        Result.of("hosts", f"throughput 2 hosts / 1 host on one folder, {WORKERS} workers each, "
                  f"{LATENCY * 1000:.0f} ms per call", ratios, "x", target=f">= {TARGET:g} x", better="higher",
                  bound=TARGET, baseline=round(singles[len(singles) // 2], 2), digits=2,
                  note=f"median {doubles[len(doubles) // 2]:.1f} vs {singles[len(singles) // 2]:.1f} docs/s "
                       f"({count} documents); baseline = 1-host docs/s"),
        Result("hosts", "documents submitted twice, all runs (the sum)", float(sum(duplicates)), "documents",
               "= 0", sum(duplicates) == 0, samples=[float(d) for d in duplicates],
               note=f"{len(duplicates)} runs of {count} documents (1 and 2 hosts), from the emulator's ledger"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "hosts", *sys.argv[1:]]))
