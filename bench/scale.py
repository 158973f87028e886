"""Scale (issues #8, #19): 1,000, 5,000 and 10,000 small documents dropped into one hot folder at once, all filed.

Time = last filing record (job.delivered: with tracking off a document is filed as accepted) - the moment
the last file was renamed into the folder. Targets: 5,000 <= 5.5 x and 10,000 <= 11 x the 1,000 time (10 %
slack for fixed costs), peak RSS of the daemon <= 200 MiB over the 10,000 runs. Every size is run once per
repeat, the large ones right after that repeat's 1,000, and each ratio is taken within its repeat (the
median of those is the figure): about four minutes in all. Also the journal's size on disk after the 10,000
run, per 10,000 faxes.

    python bench/scale.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, EmulatorProc, Result, RssSampler, daemon_on, drop_all, stage
from faxdropd.jobs.schema import journal_path

RSS_TARGET_MB = 200.0
WORKERS = 4


def filed(ctx: Context, count: int, index: int = 0) -> tuple[float, float, int]:
    """(seconds from drop to the last document filed, peak RSS MB, journal bytes on disk after the stop)."""
    base = ctx.dir(f"scale-{count}-{index}")
    hot = base / "inbox"
    staged = stage(base / "staging", count, 0, prefix="s")
    with EmulatorProc() as emu, daemon_on(base, emu, [{"path": str(hot)}], workers=WORKERS) as d:
        with RssSampler(d.pid, interval=0.2) as rss:
            dropped = drop_all(staged, hot)
            d.wait_event("job.delivered", count, timeout=120 + count * 0.5, also=("job.failed", "job.rejected"))
        if d.count("job.failed", "job.rejected"):
            raise RuntimeError(f"documents failed:\n{d.tail()}")
        last = max(t for t, _ in d.times("job.delivered"))
    in_sent = sum(1 for p in (hot / "sent").iterdir() if not p.name.endswith(".receipt.json"))
    if in_sent != count:
        raise RuntimeError(f"{in_sent} of {count} documents in sent/")
    db = journal_path(base / "state")
    size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))  # the database, its WAL and index
    return last - dropped, rss.peak_mb, size


def run(ctx: Context) -> list[Result]:
    small, sizes = (10, (20, 40)) if ctx.quick else (1_000, (5_000, 10_000))
    ctx.log(f"scale: {ctx.repeats} x ({small}, then {' and '.join(map(str, sizes))} files)")
    smalls: list[tuple[float, float, int]] = []
    larges: dict[int, list[tuple[float, float, int]]] = {large: [] for large in sizes}
    for i in range(ctx.repeats):
        # Each repeat runs the small set and then the large ones back to back, and each ratio is taken within
        # its repeat: the machine's speed drifts over minutes, and a ratio of runs made minutes apart measured
        # the drift as much as the daemon.
        smalls.append(filed(ctx, small, i))
        ctx.log(f"  repeat {i + 1}: {small} files in {smalls[-1][0]:.2f} s")
        for large in sizes:
            larges[large].append(filed(ctx, large, i))
            ctx.log(f"  repeat {i + 1}: {large} files in {larges[large][-1][0]:.2f} s")
    t_small = [t for t, _, _ in smalls]
    results = [
        Result.of("scale", f"{small:,} files dropped at once, drop -> all filed", t_small, "s", digits=2,
                  note=f"{small / statistics.median(t_small):.0f} files/s; peak RSS "
                       f"{max(r for _, r, _ in smalls):.0f} MiB"),
    ]  # fmt: skip
    for large in sizes:
        runs = larges[large]
        ratios = [t / t_small[i] for i, (t, _, _) in enumerate(runs)]
        t_large = statistics.median(t for t, _, _ in runs)
        bound = large // small * 1.1
        results.append(Result.of(
            "scale", f"{large:,} vs {small:,} files: time ratio (drop -> all filed)", ratios, "x",
            target=f"<= {bound:g} x", better="lower", bound=bound, digits=2,
            note=f"each repeat's {large:,} run against its own {small:,} run; median {large:,} time "
                 f"{t_large:.1f} s ({large / t_large:.0f} files/s); peak RSS {max(r for _, r, _ in runs):.0f} MiB",
        ))  # fmt: skip
        if large == sizes[-1]:
            results.append(Result.of("scale", f"daemon peak RSS, {large:,} files", [r for _, r, _ in runs], "MiB",
                                     target=f"<= {RSS_TARGET_MB:g} MiB", better="lower", bound=RSS_TARGET_MB,
                                     digits=1, note="VmHWM and VmRSS sampled every 0.2 s"))  # fmt: skip
            per = [journal / large * 10_000 / 1e6 for _, _, journal in runs]
            results.append(Result.of("scale", "journal size on disk per 10,000 faxes", per, "MB", digits=2,
                                     note=f"journal.db + WAL after each {large:,} run, daemon stopped"))  # fmt: skip
    return results


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "scale", *sys.argv[1:]]))
