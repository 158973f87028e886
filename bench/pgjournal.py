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
import statistics
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

from bench.common import Context, Result  # noqa: E402
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


def run(ctx: Context) -> list[Result]:
    """SQLite and PostgreSQL, alternating within each repeat, on the same machine and the same workload."""
    jobs = 80 if ctx.quick else 800
    work = ctx.dir("pgjournal")
    cluster = _durable_cluster()
    lite: list[float] = []
    server: list[float] = []
    try:
        for i in range(ctx.repeats):
            sqlite = Journal(work / f"sqlite-{i}", exit_on_failure=False)
            try:
                lite.append(throughput(sqlite, jobs))
            finally:
                sqlite.close()
            name = f"b_{uuid.uuid4().hex[:8]}"
            cluster.create_database(name)
            pg = Journal(work / f"pg-{i}", url=cluster.url(name), exit_on_failure=False)
            try:
                server.append(throughput(pg, jobs))
            finally:
                pg.close()
            ctx.log(f"  repeat {i + 1}: sqlite {lite[-1]:.0f} jobs/s, postgresql {server[-1]:.0f} jobs/s")
    finally:
        cluster.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    note = f"{jobs} jobs x 5 writes, {WRITERS} writer threads, group commit; PostgreSQL on loopback, fsync on"
    base = round(statistics.median(lite), 1)
    ratio = statistics.median(server) / statistics.median(lite)
    return [
        Result.of("pgjournal", "journal throughput, SQLite (WAL, synchronous=FULL)", lite, "jobs/s", note=note,
                  digits=1),
        Result.of("pgjournal", "journal throughput, PostgreSQL", server, "jobs/s", baseline=base,
                  note=f"{ratio:.2f} x SQLite; baseline = SQLite jobs/s", digits=1),
    ]  # fmt: skip


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    ctx = Context(quick=quick, workdir=Path(tempfile.mkdtemp(prefix="faxdropd-bench-")))
    print(json.dumps([r.as_json() for r in run(ctx)], indent=2))
