"""Run every benchmark (or some), write the results as JSON and print a markdown table.

    python bench/run.py --write                     # the published run: JSON to docs/bench/, docs/PERFORMANCE.md
    python bench/run.py [--quick] [--only NAME ...] [--repeats N] [--keep]   # JSON to bench/results/
    python -m bench.run [--quick]

--quick shrinks every size so the whole run takes well under a minute (the test suite's smoke run).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, Context, Result

# Order matters a little: the idle measurement last, so nothing of ours runs while it samples CPU.
BENCHES = [
    "cpu", "upload", "overhead", "floor", "memory", "latency", "scale", "concurrency", "hosts", "surfaces",
    "pgjournal", "idle",
]  # fmt: skip
RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = REPO / "docs" / "bench"
PAGE = REPO / "docs" / "PERFORMANCE.md"


def commit() -> str:
    """The commit measured, with "+dirty" when the working tree differs from it."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False)
        except OSError:
            return ""
        return done.stdout.strip()

    head = git("rev-parse", "HEAD") or "?"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def machine() -> dict[str, str]:
    def out(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    mem = out("free", "-h").splitlines()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "nproc": out("nproc"),
        "memory": mem[1].split()[1] if len(mem) > 1 else "?",
        "python": platform.python_version(),
        "kernel": platform.release(),
        "cpu": _cpu_model(),
        "loadavg_at_start": " ".join(load),
        "speed_ms_at_start": f"{speed_ms():.0f}",
    }


def speed_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (best of 3): how fast this machine runs Python right now.

    The same code measured 6 ms per fax one hour and 10 ms the next on the shared VM; this figure, taken before
    and after the run, says which kind of hour a published run had."""
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        total = 0
        for n in range(2_000_000):
            total += n
        best = min(best, time.process_time() - started)
    return best * 1000


def cpu_steal() -> tuple[int, int]:
    """(steal, total) jiffies of all CPUs so far, from /proc/stat: time the hypervisor gave to other guests."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return fields[7] if len(fields) > 7 else 0, sum(fields)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def table(results: Sequence[Result]) -> str:
    rows = ["| bench | metric | value | baseline | target | met | note |", "|---|---|---|---|---|---|---|"]
    for r in results:
        met = {True: "yes", False: "**MISSED**", None: "—"}[r.met]
        baseline = "" if r.baseline is None else f"{r.baseline:g}"
        rows.append(f"| {r.bench} | {r.metric} | {r.value:g} {r.unit} | {baseline} | {r.target} | {met} | {r.note} |")
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that only proves it works")
    p.add_argument("--only", nargs="+", choices=BENCHES, default=None, help="run only these benchmarks")
    p.add_argument("--repeats", type=int, default=3, help="repeats per figure (the median is reported)")
    p.add_argument(
        "--write",
        action="store_true",
        help=f"keep the JSON in docs/bench/ and regenerate {PAGE.relative_to(REPO)} from it",
    )
    p.add_argument("--keep", action="store_true", help="keep the working directory (logs, journals)")
    p.add_argument("--out", default=None, help="results JSON path (default bench/results/<time>.json)")
    p.add_argument(
        "--workdir",
        default=None,
        help="where the folders and journals go (default: a new directory in $TMPDIR); e.g. a tmpfs "
        "to see the cost without fsync",
    )
    args = p.parse_args(argv)
    if args.write and (args.quick or args.only):
        p.error("--write publishes a full run: not with --quick or --only")
    names = args.only or BENCHES
    workdir = Path(tempfile.mkdtemp(prefix="faxdropd-bench-", dir=args.workdir))
    ctx = Context(quick=args.quick, workdir=workdir, repeats=args.repeats)
    info = machine()
    steal0 = cpu_steal()
    started = time.monotonic()
    results: list[Result] = []
    errors: dict[str, str] = {}
    for name in names:
        module: Any = importlib.import_module(f"bench.{name}")
        t0 = time.monotonic()
        try:
            got = module.run(ctx)
        except Exception as exc:
            # One broken benchmark must not hide the others' figures; it is reported and fails the run.
            errors[name] = "".join(traceback.format_exception(exc))
            ctx.log(f"{name} FAILED:\n{errors[name]}")
            continue
        ctx.log(f"{name}: {time.monotonic() - t0:.1f} s")
        for r in got:
            ctx.log(f"  {r.metric}: {r.value:g} {r.unit} {'' if r.met is None else ('ok' if r.met else 'MISSED')}")
        results.extend(got)
    elapsed = time.monotonic() - started
    with open("/proc/loadavg") as f:
        info["loadavg_at_end"] = " ".join(f.read().split()[:3])
    steal1 = cpu_steal()
    info["steal_percent"] = f"{100 * (steal1[0] - steal0[0]) / max(1, steal1[1] - steal0[1]):.1f}"
    info["speed_ms_at_end"] = f"{speed_ms():.0f}"
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "commit": commit(),
        "repeats": args.repeats,
        "machine": info,
        "seconds": round(elapsed, 1),
        "results": [r.as_json() for r in results],
        "errors": errors,
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if args.out:
        out = Path(args.out)
    else:
        out = (PUBLISHED if args.write else RESULTS) / f"{stamp}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(
        f"machine: {info['nproc']} cores ({info['cpu']}), {info['memory']} RAM, Python {info['python']}, "
        f"load {info['loadavg_at_start']} -> {info['loadavg_at_end']}"
    )
    print(f"run: {elapsed:.0f} s, results in {os.path.relpath(out, REPO)}\n")
    print(table(results))
    for name in errors:
        print(f"\n{name}: FAILED (see the JSON for the traceback)")
    if args.write:
        from bench.report import main as report

        report([str(out), "--write", str(PAGE)])
        print(f"\n{PAGE.relative_to(REPO)} regenerated from {os.path.relpath(out, REPO)}")
    if args.keep:
        print(f"\nworking directory kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
