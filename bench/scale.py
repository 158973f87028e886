"""Scale (issue #8): 1,000 and 10,000 small documents dropped into one hot folder at once, all filed.

Time = last filing record (job.delivered: with tracking off a document is filed as accepted) - the moment
the last file was renamed into the folder. Linear growth means 10,000 <= 11 x 1,000 (the 10 % slack for
fixed costs). Peak RSS of the daemon over the whole large run.

    python bench/scale.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, EmulatorProc, Result, RssSampler, daemon_on, drop_all, stage

RSS_TARGET_MB = 200.0
WORKERS = 4


def filed(ctx: Context, count: int) -> tuple[float, float]:
    """(seconds from drop to the last document filed, peak RSS MB)."""
    base = ctx.dir(f"scale-{count}")
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
    return last - dropped, rss.peak_mb


def run(ctx: Context) -> list[Result]:
    small, large = (10, 40) if ctx.quick else (1_000, 10_000)
    ctx.log(f"scale: {small} files")
    t_small, rss_small = filed(ctx, small)
    ctx.log(f"scale: {large} files")
    t_large, rss_large = filed(ctx, large)
    factor = large // small
    bound = t_small * factor * 1.1
    return [
        Result("scale", f"{small:,} files dropped at once, drop -> all filed", round(t_small, 2), "s", "", None,
               note=f"{small / t_small:.0f} files/s, peak RSS {rss_small:.0f} MB"),
        Result("scale", f"{large:,} files dropped at once, drop -> all filed", round(t_large, 2), "s",
               f"<= {factor * 1.1:g} x {small:,} = {bound:.1f} s", t_large <= bound,
               note=f"{large / t_large:.0f} files/s; {t_large / t_small:.1f} x the {small:,} time"),
        Result("scale", f"daemon peak RSS, {large:,} files", round(rss_large, 1), "MB", f"<= {RSS_TARGET_MB:g} MB",
               rss_large <= RSS_TARGET_MB),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "scale", *sys.argv[1:]]))
