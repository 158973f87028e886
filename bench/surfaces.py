"""The operator's surfaces with a big journal (issue #19): 100,000 jobs seeded straight into the journal (as
tests/test_retention.py seeds it), then

- `faxdropd queue --json` and `faxdropd show JOB`: wall time of the whole command, a fresh process each time
  (interpreter start-up and imports included: what the operator waits for), daemon not running;
- the front-desk page's dashboard and a filtered job search (folder + state + since): p95 of 50 sequential
  requests through the real waitress server on loopback (bench/web.py seeds and serves the same way).

Each figure is the median of the repeats, every repeat a fresh run of the command or a fresh 50 requests. A
command takes half a second, in which one slow moment of a shared machine moves a single run by a fifth: the
commands are run at least 9 times (COMMAND_REPEATS; a few seconds in all), and every run is kept in the JSON.

    python bench/surfaces.py [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests
import yaml

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PASSWORD, REPO, Context, Result, at_least, pct, repeated
from bench.web import FOLDERS, seed
from faxdropd.config import parse_config
from faxdropd.web.server import WebServer

QUEUE_TARGET = 0.5
SHOW_TARGET = 0.2
WEB_TARGET_MS = 100.0
REQUESTS = 50
COMMAND_REPEATS = 9


def _config(root: Path) -> Path:
    data = {
        "interfax": {
            "url": "http://127.0.0.1:9/dfs.asmx",
            "username": "demo",
            "password_env": "FAXDROPD_BENCH_PASSWORD",
        },
        "state_dir": str(root / "state"),
        "folders": [{"path": str(root / f), "name": f, "to": "+12125550100"} for f in FOLDERS],
    }
    for f in FOLDERS:
        (root / f).mkdir(exist_ok=True)
    path = root / "faxdropd.yaml"
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    return path


def _command(config: Path, *args: str) -> float:
    env = {**os.environ, "FAXDROPD_BENCH_PASSWORD": PASSWORD}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "faxdropd", "-c", str(config), *args], capture_output=True,
                          env=env, cwd=REPO, check=False, timeout=120)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"faxdropd {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]!r}")
    return seconds


def _p95(session: requests.Session, url: str) -> float:
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        session.get(url, timeout=30).raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return pct(times, 95)


def run(ctx: Context) -> list[Result]:
    jobs = 2_000 if ctx.quick else 100_000
    root = ctx.dir("surfaces")
    ctx.log(f"surfaces: seeding {jobs:,} jobs")
    ids = seed(root / "state", jobs)
    config = _config(root)
    job = ids[len(ids) // 2]
    ctx.log("surfaces: queue --json")
    queue = repeated(ctx, lambda _: _command(config, "queue", "--json"), times=at_least(ctx, COMMAND_REPEATS))
    ctx.log("surfaces: --version (start-up alone)")
    start = repeated(ctx, lambda _: _command(config, "--version"), times=at_least(ctx, COMMAND_REPEATS))
    ctx.log("surfaces: show")
    show = repeated(ctx, lambda _: _command(config, "show", job), times=at_least(ctx, COMMAND_REPEATS))
    cfg = parse_config({**yaml.safe_load(config.read_text()), "web": {"listen": "127.0.0.1:0"},
                        "interfax": {"url": "embedded", "username": "demo", "password": PASSWORD}},
                       base_dir=root)  # fmt: skip
    server = WebServer(lambda: cfg, lambda: dict.fromkeys(FOLDERS, True)).start()
    try:
        base = f"http://{server.address}"
        with requests.Session() as session:
            session.get(base + "/", timeout=30).raise_for_status()  # templates compiled, connection open
            ctx.log("surfaces: web dashboard")
            dash = repeated(ctx, lambda _: _p95(session, base + "/"))
            ctx.log("surfaces: web filtered search")
            search = repeated(ctx, lambda _: _p95(session, base + "/jobs?folder=clinic&state=failed&since=7d"))
    finally:
        server.stop()
    size = f"{jobs:,} jobs in the journal"
    return [
        Result.of("surfaces", f"`faxdropd queue --json`, {size}", queue, "s", target=f"<= {QUEUE_TARGET:g} s",
                  better="lower", bound=QUEUE_TARGET, note="whole command, a fresh process (start-up included)"),
        Result.of("surfaces", f"`faxdropd show JOB`, {size}", show, "s", target=f"<= {SHOW_TARGET:g} s",
                  better="lower", bound=SHOW_TARGET, note="whole command, a fresh process (start-up included)"),
        Result.of("surfaces", "`faxdropd --version`: interpreter start-up and the CLI's imports alone", start, "s",
                  note="the floor under every command above; no target"),
        Result.of("surfaces", f"web dashboard `/`, p95 of {REQUESTS} requests, {size}", dash, "ms", digits=1,
                  target=f"<= {WEB_TARGET_MS:g} ms", better="lower", bound=WEB_TARGET_MS,
                  note="sequential requests, waitress on loopback, client in the same process"),
        Result.of("surfaces", f"web filtered job search, p95 of {REQUESTS} requests, {size}", search, "ms",
                  digits=1, target=f"<= {WEB_TARGET_MS:g} ms", better="lower", bound=WEB_TARGET_MS,
                  note="`/jobs?folder=clinic&state=failed&since=7d`; median p95 "
                       f"{statistics.median(search):.1f} ms"),
    ]  # fmt: skip


if __name__ == "__main__":
    from bench.run import main

    sys.exit(main(["--only", "surfaces", *sys.argv[1:]]))
