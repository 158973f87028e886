"""Retention: deleting expired filed documents and pruning the journal, a low-priority pass in the daemon.

A pass runs at start and then hourly on its own thread (`run`), niced below the workers. It
1. deletes documents filed in each folder's sent/ and failed/ before `retention.sent` / `retention.failed`
   ago (files/archive.py says in which order, and why a crash leaves nothing the next pass cannot finish);
2. prunes final jobs (delivered, failed, rejected) and their events last updated before `retention.journal`
   ago — never one inside `limits.duplicate_window`, because the duplicate check reads them — in batches of
   BATCH rows, each one group commit, so a worker's transition waits at most one small batch;
3. gives the freed pages back to the file system with an incremental vacuum, VACUUM_PAGES pages a commit.
Each step is idempotent: a crash mid-pass loses nothing and the next pass carries on where it stopped.
Each pass logs `retention.pass` with its counts and adds them to `faxdropd_retention_deleted_total{kind}`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import structlog

from faxdropd.config import Config
from faxdropd.files import archive
from faxdropd.jobs.figures import journal_figures
from faxdropd.jobs.runtime import Runtime
from faxdropd.jobs.schema import FINAL
from faxdropd.store.conn import Conn

log = structlog.get_logger("faxdropd.jobs.retention")

INTERVAL = 3600.0
BATCH = 500  # journal rows a commit: a few milliseconds under the journal's lock
VACUUM_PAGES = 256  # 1 MiB of 4 KiB pages a commit
_FINAL = [str(s) for s in FINAL]


@dataclass
class PassCounts:
    documents: int = 0
    receipts: int = 0
    jobs: int = 0
    months: int = 0
    vacuumed_pages: int = 0


class Retention:
    def __init__(self, rt: Runtime, *, interval: float = INTERVAL) -> None:
        self.rt = rt
        self.interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        """The thread's body: a pass now, then one every `interval` until `stopping` is set."""
        with contextlib.suppress(OSError):  # Linux: a thread's own nice value; elsewhere it simply runs as is
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        while not self.stopping.is_set():
            try:
                self.pass_once()
            except Exception as exc:  # a share that fails mid-pass must not end retention for good
                log.warning("retention.failed", error=f"{type(exc).__name__}: {exc}", action="retrying next pass")
            self.stopping.wait(self.interval)

    def pass_once(self, now: float | None = None) -> PassCounts:
        now = time.time() if now is None else now
        started = time.monotonic()
        counts = PassCounts()
        cfg = self.rt.config
        for dest_dir, keep in _dirs(cfg).items():
            if self.stopping.is_set():
                break
            done = archive.expire(dest_dir, now - keep, should_stop=self.stopping.is_set)
            counts.documents += done.documents
            counts.receipts += done.receipts
            counts.months += done.months
        keep = cfg.retention.journal
        cutoff = now - max(keep, cfg.limits.duplicate_window)
        # Read first, write only when there is work: an idle pass adds no commit to the journal.
        if keep > 0 and self.rt.journal.final_before(cutoff):
            counts.jobs = self._prune(cutoff)
        if self.rt.journal.free_pages():
            counts.vacuumed_pages = self._vacuum()
        if counts.jobs or counts.vacuumed_pages:
            # The WAL keeps the size it grew to while pruning: truncate it, so the disk space really comes back.
            self.rt.journal.checkpoint()
        metrics = self.rt.metrics
        metrics.retention_deleted("document", counts.documents)
        metrics.retention_deleted("receipt", counts.receipts)
        metrics.retention_deleted("job", counts.jobs)
        stored = journal_figures(self.rt.journal)
        log.info(
            "retention.pass",
            **asdict(counts),
            journal_bytes=stored["size_bytes"],
            oldest_job_at=stored["oldest_job_at"],
            seconds=round(time.monotonic() - started, 2),
        )
        return counts

    def _prune(self, cutoff: float) -> int:
        marks = ", ".join("?" for _ in _FINAL)
        # Final jobs only (nothing in flight, nothing waiting to be filed); the (state, updated_at) index
        # finds each batch without reading the jobs that are kept.
        select = f"SELECT id FROM jobs WHERE state IN ({marks}) AND updated_at < ? LIMIT {BATCH}"  # noqa: S608

        def batch(db: Conn) -> int:
            ids = [row[0] for row in db.execute(select, [*_FINAL, cutoff])]
            if ids:
                id_marks = ", ".join("?" for _ in ids)
                db.execute(f"DELETE FROM events WHERE job_id IN ({id_marks})", ids)  # noqa: S608
                db.execute(f"DELETE FROM jobs WHERE id IN ({id_marks})", ids)  # noqa: S608
            return len(ids)

        return self._batches("retention", batch)

    def _vacuum(self) -> int:
        database = self.rt.journal.database

        def batch(db: Conn) -> int:
            return database.vacuum_pages(db, VACUUM_PAGES)

        return self._batches("vacuum", batch)

    def _batches(self, what: str, batch: Callable[[Conn], int]) -> int:
        total = 0
        while not self.stopping.is_set():
            done = self.rt.journal.write(what, batch)
            total += done
            if done == 0:
                break
            time.sleep(0)  # let a waiting writer take the journal between two batches
        return total


def _dirs(cfg: Config) -> dict[Path, float]:
    """Each folder's sent/ and failed/ with how long they keep documents (0 = forever: left out).

    A directory shared by several folders keeps the longest of their times: one folder's short retention
    must not delete another's documents.
    """
    dirs: dict[Path, float] = {}
    for folder in cfg.folders:
        kept = cfg.retention_for(folder)
        for dest_dir, keep in ((folder.sent, kept.sent), (folder.failed, kept.failed)):
            if keep > 0 and dirs.get(dest_dir, 0.0) < keep:
                dirs[dest_dir] = keep
            elif keep == 0:
                dirs[dest_dir] = float("inf")
    return {d: k for d, k in dirs.items() if k != float("inf")}
