"""Journal throughput on one host: SQLite in state_dir vs a PostgreSQL server on loopback (issue #20).

The daemon's write pattern, without the daemon: W writer threads (the workers) each take jobs through their
life (create, then uploading, submitting, submitted, delivered: five group-committed writes a job) on one
Journal. PostgreSQL runs as a private cluster (tests/kit/pg.py) with fsync ON, so both engines pay for
durability the way production does. Figures: jobs a second through the journal, and the ratio PostgreSQL /
SQLite.

Register it with the runner by adding "pgjournal" to bench/run.py's list of benchmarks; `python
bench/pgjournal.py [--quick]` runs it alone.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from faxdropd.jobs.journal import Job, Journal, State, new_job_id  # noqa: E402

PATH = (State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.DELIVERED)
WRITERS = 4


def _job() -> Job:
    job_id = new_job_id()
    return Job(
        id=job_id,
        reference=f"fd-{job_id}",
        folder="bench",
        hot="/hot",
        name=f"{job_id}.pdf",
        work_path=f"/hot/.faxdropd/bench/{job_id}__doc.pdf",
        sidecar_path=None,
        state=State.CLAIMED,
    )


def throughput(journal: Journal, jobs: int) -> float:
    """Jobs a second, `WRITERS` threads sharing `jobs` jobs' lives."""
    per_thread = max(1, jobs // WRITERS)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                job = journal.create(_job())
                for state in PATH:
                    job = journal.transition(job, state, "bench")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(WRITERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return per_thread * WRITERS / elapsed


def _durable_cluster() -> Any:
    """A private cluster like the tests' one, but with fsync on (the tests turn it off for speed)."""
    from kit.pg import PgCluster

    cluster = PgCluster()
    cluster._prepare()
    opts = f"-p {cluster.port} -k {cluster.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=on"
    cluster._run("pg_ctl", "-D", str(cluster.data_dir), "-l", str(cluster.log_file), "-o", opts, "-w", "start")
    cluster.running = True
    return cluster


def run(quick: bool) -> list[dict[str, Any]]:
    jobs = 80 if quick else 800
    work = Path(tempfile.mkdtemp(prefix="faxdropd-bench-pg-"))
    cluster = _durable_cluster()
    try:
        sqlite = Journal(work / "sqlite", exit_on_failure=False)
        try:
            lite = throughput(sqlite, jobs)
        finally:
            sqlite.close()
        name = f"b_{uuid.uuid4().hex[:8]}"
        cluster.create_database(name)
        pg = Journal(work / "pg", url=cluster.url(name), exit_on_failure=False)
        try:
            server = throughput(pg, jobs)
        finally:
            pg.close()
    finally:
        cluster.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    note = f"{jobs} jobs x 5 writes, {WRITERS} writer threads, group commit; PostgreSQL on loopback, fsync on"
    return [
        {"bench": "pgjournal", "metric": "journal throughput, SQLite (WAL, synchronous=FULL)", "value": round(lite, 1),
         "unit": "jobs/s", "target": "", "met": None, "baseline": None, "note": note},
        {"bench": "pgjournal", "metric": "journal throughput, PostgreSQL", "value": round(server, 1),
         "unit": "jobs/s", "target": "", "met": None, "baseline": round(lite, 1),
         "note": f"{server / lite:.2f} x SQLite; baseline = SQLite jobs/s"},
    ]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
