"""Idle cost (issues #8, #19): the daemon's CPU (utime + stime of every thread, /proc/<pid>/stat) while nothing
is sent — 200 empty folders watched with inotify with the metrics endpoint, the front-desk page and
notifications enabled (three consecutive windows of one daemon run, the median reported), and one polled
folder holding 10,000 files every 2 s (one window).

The 10,000 files stay put because the folder takes destinations from sidecars only and none exist: every
poll lists and stats them all, which is exactly the cost being measured (a backlog waiting, e.g., for
sidecars or while sending is paused).

    python bench/idle.py [--quick]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Context, Result, cpu_seconds, daemon_on, free_port, make_pdf

EVENTS_TARGET = 1.0  # % of one core
POLL_TARGET = 10.0
SETTLE = 5.0  # seconds after ready before sampling: the first listings and stability checks are start-up


def cpu_percent(
    ctx: Context, name: str, folders: list[dict[str, Any]], window: float, windows: int = 1, **options: Any
) -> list[float]:
    base = ctx.dir(f"idle-{name}")
    for folder in folders:
        Path(str(folder["path"])).mkdir(parents=True, exist_ok=True)
    out = []
    # Nothing is sent, so no emulator: a closed loopback port keeps any accidental call from going anywhere.
    with daemon_on(base, "http://127.0.0.1:9/dfs.asmx", folders, **options) as d:
        time.sleep(1.0 if ctx.quick else SETTLE)
        for _ in range(windows):
            c0, t0 = cpu_seconds(d.pid), time.monotonic()
            time.sleep(window)
            c1, t1 = cpu_seconds(d.pid), time.monotonic()
            out.append((c1 - c0) / (t1 - t0) * 100)
        if d.count("job.claimed"):
            raise RuntimeError("the idle daemon claimed a document")
    return out


def surfaces() -> dict[str, Any]:
    """The optional parts an office turns on: /metrics and the front-desk page, each on a free port, and
    notifications by e-mail and webhook (to a closed loopback port: an idle daemon has nothing to tell)."""
    return {
        "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "web": {"listen": f"127.0.0.1:{free_port()}"},
        "notify": {
            "smtp": {"host": "127.0.0.1", "port": 9, "security": "none", "from": "Fax <fax@example.org>"},
            "on": ["failed", "rejected", "paused", "folder_down"],
            "email": ["frontdesk@example.org"],
            "webhooks": ["http://127.0.0.1:9/faxdropd"],
        },
    }


def run(ctx: Context) -> list[Result]:
    window = 2.0 if ctx.quick else 20.0
    n_folders, n_files = (10, 200) if ctx.quick else (200, 10_000)
    base = ctx.workdir / "idle-folders"
    events = [{"path": str(base / f"hot-{i:03d}")} for i in range(n_folders)]
    extra = surfaces()
    ctx.log(f"idle: {n_folders} event folders, {', '.join(extra)} on, {ctx.repeats} x {window:g} s")
    ev = cpu_percent(ctx, "events", events, window, ctx.repeats, watch="events", extra=extra)

    backlog = base / "backlog"
    backlog.mkdir(parents=True, exist_ok=True)
    pdf = make_pdf(0, "waiting")
    for i in range(n_files):
        (backlog / f"waiting-{i:05d}.pdf").write_bytes(pdf)
    ctx.log(f"idle: 1 polled folder with {n_files} files, {window:g} s")
    poll = cpu_percent(ctx, "poll", [{"path": str(backlog), "to_from": ["sidecar"]}], window, watch="poll",
                       poll_interval=2.0)  # fmt: skip
    return [
        Result.of("idle", f"CPU, {n_folders} idle folders, events mode, {' + '.join(extra)} enabled, "
                  f"{window:g} s windows", ev, "% of a core", target=f"<= {EVENTS_TARGET:g} %", better="lower",
                  bound=EVENTS_TARGET, digits=2, note="consecutive windows of one daemon run"),
        Result.of("idle", f"CPU, 1 polled folder of {n_files:,} files, 2 s interval, {window:g} s", poll,
                  "% of a core", target=f"<= {POLL_TARGET:g} %", better="lower", bound=POLL_TARGET, digits=2,
                  note="single window"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "idle", *sys.argv[1:]]))
