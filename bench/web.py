"""The front-desk page with a big journal: p50/p95 of page views over HTTP, through the real server.

    PYTHONPATH=. python bench/web.py [--jobs 100000] [--requests 50]

Seeds a journal with --jobs finished and waiting jobs (each with a realistic timeline of events) across three
folders, starts the page's waitress server on loopback, and times --requests sequential requests for each
page: the dashboard, its JSON, a search by file name, a filtered search and a job's page. Target: < 100 ms
p95 at 100,000 jobs. A benchmark, not a test: timings on a shared machine prove nothing by themselves.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faxdropd.config import parse_config
from faxdropd.jobs.journal import Journal
from faxdropd.jobs.schema import journal_path
from faxdropd.web.server import WebServer

FOLDERS = ("front", "billing", "clinic")
FINAL = [("delivered", 0.85), ("failed", 0.08), ("rejected", 0.03)]
OPEN = ["claimed", "deferred", "uploading", "submitted", "unknown"]
STEPS = ("claimed", "uploading", "submitting", "submitted")


def seed(state_dir: Path, count: int) -> list[str]:
    Journal(state_dir).close()  # the schema and indexes, as the daemon makes them
    db = sqlite3.connect(journal_path(state_dir))
    rng = random.Random(18)
    now = time.time()
    jobs, events, ids = [], [], []
    for i in range(count):
        job_id = f"{i:016x}"
        ids.append(job_id)
        created = now - (count - i) * 30.0  # one every 30 s: 100,000 jobs span about five weeks
        roll = rng.random()
        state = next((s for s, p in FINAL if (roll := roll - p) < 0), rng.choice(OPEN))
        number = f"+1212555{rng.randrange(10_000):04d}"
        jobs.append(
            (
                job_id,
                f"fd-{job_id}",
                FOLDERS[i % 3],
                f"/srv/fax/{FOLDERS[i % 3]}",
                f"scan-{i:06d} invoice.pdf",
                f"/w/{job_id}",
                state,
                json.dumps([number]),
                "busy line" if state == "failed" else None,
                created,
                created + 90,
                2,
            )
        )
        previous = None
        for step, to in enumerate((*STEPS, state)):
            events.append((job_id, created + step * 20, previous, to, f"step {step}"))
            previous = to
    db.executemany(
        "INSERT INTO jobs (id, reference, folder, hot, name, work_path, state, numbers, reason, created_at, "
        "updated_at, pages, sidecar_path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
        jobs,
    )
    db.executemany("INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?,?,?,?,?)", events)
    db.commit()
    db.close()
    return ids


def measure(session: requests.Session, url: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        r = session.get(url, timeout=30)
        r.raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=50)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        ids = seed(root / "state", args.jobs)
        print(f"seeded {args.jobs} jobs in {time.perf_counter() - started:.1f} s")
        data = {
            "interfax": {"url": "embedded", "username": "demo", "password": "bench-Pa55word!"},
            "state_dir": str(root / "state"),
            "folders": [{"path": str(root / f), "name": f, "to": "+12125550100"} for f in FOLDERS],
            "web": {"listen": "127.0.0.1:0"},
        }
        cfg = parse_config(data, base_dir=root)
        server = WebServer(lambda: cfg, lambda: dict.fromkeys(FOLDERS, True)).start()
        try:
            base = f"http://{server.address}"
            pages = {
                "dashboard /": "/",
                "dashboard JSON": "/api/dashboard",
                "search by name": "/jobs?q=scan-04213",
                "search by number": "/jobs?q=555 0042",
                "filtered search": "/jobs?folder=clinic&state=failed&since=7d",
                "job page": f"/jobs/{ids[len(ids) // 2]}",
            }
            with requests.Session() as session:
                session.get(base + "/", timeout=30)  # warm: templates compiled, connections open
                print(f"| page ({args.jobs} jobs) | p50 ms | p95 ms |\n|---|---|---|")
                for name, path in pages.items():
                    p50, p95 = measure(session, base + path, args.requests)
                    print(f"| {name} | {p50:.1f} | {p95:.1f} |")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
