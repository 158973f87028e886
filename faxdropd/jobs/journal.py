"""The job journal: one SQLite database under state_dir; every state change is durable when its call returns.

WAL with synchronous=FULL means a transition that returned is on disk, even across a power cut; a change made
with `durable=False` (`mark`) is only sure to outlive a crash of the process until the next durable commit.
One process owns a state_dir at a time (flock on a lock file), so two daemons can never interleave their
bookkeeping.

Crash-only on write failure: when a write cannot be committed (disk full, fsync EIO, a damaged file) the
in-memory picture and the journal have parted ways, and any later step taken on that picture could send a fax
the journal does not know about. So a failed write ends the process at once (exit 74, EX_IOERR) instead of
raising into a worker whose `except Exception` would carry on; the restart recovers from the last commit.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from faxdropd.errors import JournalFailure as JournalFailure
from faxdropd.jobs import statelock
from faxdropd.jobs.changes import ChangesMixin
from faxdropd.jobs.migrations import MIGRATIONS
from faxdropd.jobs.outbox import OutboxMixin
from faxdropd.jobs.pending import Change, Pending, apply_batch
from faxdropd.jobs.pending import new_job_id as new_job_id
from faxdropd.jobs.queries import JournalReads
from faxdropd.jobs.schema import FINAL as FINAL
from faxdropd.jobs.schema import JSON_COLUMNS, journal_path, put_meta, to_sql
from faxdropd.jobs.schema import NOT_FINAL as NOT_FINAL
from faxdropd.jobs.schema import RUNNABLE as RUNNABLE
from faxdropd.jobs.schema import SCHEMA as SCHEMA
from faxdropd.jobs.schema import SENT_LIKE as SENT_LIKE
from faxdropd.jobs.schema import UNSENT as UNSENT
from faxdropd.jobs.schema import Delivery as Delivery
from faxdropd.jobs.schema import Job as Job
from faxdropd.jobs.schema import Outcome as Outcome
from faxdropd.jobs.schema import State as State
from faxdropd.store import dialect
from faxdropd.store.conn import DB_ERRORS, WRITE_ERRORS, Conn
from faxdropd.store.database import Target
from faxdropd.store.opening import open_database

T = TypeVar("T")

# sysexits EX_IOERR: systemd restarts the unit (only 78 stops it), and the operator sees an I/O cause.
EXIT_JOURNAL_FAILURE = 74


class Journal(JournalReads, OutboxMixin, ChangesMixin):
    def __init__(
        self,
        state_dir: Path,
        *,
        read_only: bool = False,
        exit_on_failure: bool = True,
        url: str | None = None,
        password: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.exit_on_failure = exit_on_failure
        self._lock = threading.RLock()
        self._queue_cv = threading.Condition(threading.Lock())
        self._queue: list[Pending] = []
        self._leader: int | None = None  # thread id of the writer committing a batch now
        self._lock_fd: int | None = None
        self.failure = ""  # why the last write failed (readiness: "the journal is failing")
        # The instance this journal works for, once known (jobs/instances.py): its jobs only, on a shared journal.
        self.owner: str | None = None
        self.lease = 30.0  # seconds a new or renewed lease lasts (config journal_lease)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not read_only:
            self._lock_fd = statelock.take(state_dir)
        self.target = Target(journal_path(state_dir), url, password)
        try:
            self.database = open_database(self.target, read_only=read_only)
        except BaseException:
            self._release_lock()
            raise
        self._db: Conn = self.database.conn
        if exit_on_failure:
            # A shared journal whose server is gone: a read fails like a write, and ends the process (crash-only).
            self.database.when_lost(lambda exc: self._fail("read", exc))
        if not read_only:
            self.database.migrate(MIGRATIONS)

    @property
    def shared(self) -> bool:
        """Whether the journal is a server several hosts share (PostgreSQL) rather than this host's file."""
        return self.target.kind == dialect.POSTGRESQL

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        with self._lock:
            self.database.close()
            self._release_lock()

    def free_pages(self) -> int:
        with self._lock:
            return self.database.free_pages()

    def size_bytes(self) -> int:
        with self._lock:
            return self.database.size_bytes()

    def create(self, job: Job) -> Job:
        return self.create_many([job])[0]

    def create_many(self, jobs: list[Job]) -> list[Job]:
        """Insert new jobs in one commit: a batch of claims is journaled together or not at all."""
        now = time.time()
        rows: list[dict[str, Any]] = []
        for job in jobs:
            # An adopted job keeps an earlier creation time: its reference is looked up from then (adoption.py).
            job.created_at = min(job.created_at or now, now)
            job.updated_at = now
            values = {k: (json.dumps(v) if k in JSON_COLUMNS else to_sql(v)) for k, v in job.__dict__.items()}
            values["state"] = str(job.state)
            rows.append(values)

        owner = self.owner
        for values in rows:
            values["owner"] = owner
            values.pop("lease_until", None)
        lease = f"{self.database.now} + {float(self.lease)!r}"

        def apply() -> None:
            for job, values in zip(jobs, rows, strict=True):
                cols = ", ".join(values)
                # `?`, not `:name`: sqlite3 lets go of the GIL once per named parameter to look its name up
                # (~30 per job here), a hand-off to another thread each time the workers are busy.
                marks = ", ".join("?" * len(values))
                # The lease runs on the database's clock from the start: a claim is owned like any other job.
                self._db.execute(
                    f"INSERT INTO jobs ({cols}, lease_until) VALUES ({marks}, {lease})",  # noqa: S608
                    list(values.values()),
                )
                self._event(job.id, None, job.state, "created", now)
            for job in jobs:
                job.owner = owner

        self._write("create", apply)
        return jobs

    def _write(self, what: str, apply: Callable[[], None], *, durable: bool = True) -> None:
        """Run `apply` in a committed transaction; returns once that commit is durable (or ends the process).

        Group commit: writers that arrive while a commit is being fsync'd queue up, and the next of them to
        run commits the whole queue in one transaction, each writer's statements under its own savepoint.
        Every caller still returns only after the COMMIT holding its change, so nothing is acknowledged before
        it is on disk; four workers and the intake share one fsync (~3.4 ms on the benchmark disk) instead of
        each paying for their own in turn. A batch commits all-or-nothing: in the daemon (exit_on_failure) any
        failed commit ends the process anyway; with exit_on_failure=False every writer of a failed batch gets
        JournalFailure, even one whose own statements were fine. A batch is fsync'd when any of its writers
        is `durable`; a batch of only non-durable ones (Journal.mark) commits without waiting for the disk.
        """
        if self._leader == threading.get_ident():
            # An apply() that writes would wait for its own batch forever.
            raise RuntimeError("journal write from inside a journal write")
        mine = Pending(what, apply, durable=durable)
        with self._queue_cv:
            self._queue.append(mine)
            try:
                while not mine.done:
                    if self._leader is None:
                        self._leader = threading.get_ident()
                        batch, self._queue = self._queue, []
                        break
                    self._queue_cv.wait()
                else:
                    mine.result()
                    return
            except BaseException:
                # Interrupted while queued (Ctrl-C in a CLI command): withdraw, so no later leader commits a
                # change its caller was told failed. Once a leader has taken it, it is that batch's to settle.
                if mine in self._queue:
                    self._queue.remove(mine)
                raise
        try:
            self._commit(batch)
        except BaseException as exc:
            if self.exit_on_failure:
                self._fail(", ".join(sorted({p.what for p in batch})), exc)
            # Whatever stopped this commit, nobody in the batch may believe their change is on disk.
            for pending in batch:
                if pending is not mine and pending.error is None:
                    pending.error = JournalFailure(f"journal {pending.what} not committed: {exc!r}")
            raise
        finally:
            with self._queue_cv:
                self._leader = None
                for pending in batch:
                    pending.done = True
                self._queue_cv.notify_all()
        mine.result()

    def _commit(self, batch: list[Pending]) -> None:
        with self._lock:
            try:
                self.database.ready()
                try:
                    self.database.begin_write(durable=any(pending.durable for pending in batch))
                    try:
                        if apply_batch(self._db, batch, self.database.rollback):
                            self._db.execute("COMMIT")
                    except BaseException:
                        self.database.rollback()
                        raise
                finally:
                    self.database.end_write()
            except WRITE_ERRORS as exc:
                what = ", ".join(sorted({pending.what for pending in batch}))
                try:
                    self._fail(what, exc)
                except JournalFailure as failure:
                    for pending in batch:
                        pending.error = failure

    def check(self) -> str:
        """Why the journal is failing ("" when it is not): a write that failed, or a read that fails now.

        For /readyz, on the HTTP thread: a plain read of one small table, under the lock like every read.
        """
        if self.failure:
            return self.failure
        if not self.shared and not journal_path(self.state_dir).exists():
            return f"journal {journal_path(self.state_dir)} is gone"
        try:
            with self._lock:
                self.database.ready()
                self._db.execute("SELECT COUNT(*) FROM meta").fetchone()
        except DB_ERRORS as exc:
            return f"journal cannot be read: {type(exc).__name__}: {exc}"
        return ""

    def _fail(self, what: str, exc: BaseException) -> NoReturn:
        self.failure = f"journal write failed ({what}): {type(exc).__name__}: {exc}"
        # The error text names the database and the errno, never a job's document contents.
        # Runs on the batch leader's thread, whose bound job context is not (only) the failed writers': blank it.
        # structlog is imported here, on the one path that logs: the console's commands read the journal and
        # would otherwise pay for structlog and rich at every start (issue #19, `show`).
        import structlog

        log = structlog.get_logger("faxdropd.jobs.journal")
        log.critical(
            "journal.write_failed",
            operation=what,
            error=f"{type(exc).__name__}: {exc}",
            action="exiting; the restart resumes from the last committed state",
            job_id=None,
            reference=None,
            folder=None,
            file=None,
        )
        if not self.exit_on_failure:
            raise JournalFailure(f"journal {what} failed: {exc}") from exc
        for stream in (sys.stdout, sys.stderr):
            with suppress(OSError, ValueError):
                stream.flush()
        # os._exit, not sys.exit: other threads must not take one more step on a picture the disk lacks.
        os._exit(EXIT_JOURNAL_FAILURE)

    def _event(self, job_id: str, old: str | None, new: str, detail: str, now: float) -> None:
        self._db.execute(
            "INSERT INTO events (job_id, at, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?)",
            # Details are prose that may quote a file name; a non-UTF-8 name is shown with U+FFFD, not stored raw.
            (job_id, now, old, new, detail.encode("utf-8", "surrogateescape").decode("utf-8", "replace")),
        )

    def transition(self, job: Job, to: State, detail: str = "", **fields: Any) -> Job:
        """Move `job` to state `to`, updating `fields`; returns the new job once the change is committed."""
        return self._change(job, to, detail, fields)

    def update(self, job: Job, detail: str = "", **fields: Any) -> Job:
        """Change `fields` of `job` and keep its state; returns the job once the change is committed."""
        return self._change(job, job.state, detail, fields)

    def mark(self, job: Job, detail: str = "", *, to: State | None = None, **fields: Any) -> Job:
        """Like `update` (or `transition` with `to`), but the change need outlive only a crash of this process,
        not a power cut: what a restart after a power cut can do without. Saves a wait for the disk; the next
        durable commit makes it durable too."""
        return self.commit(Change(job, to, detail, fields), durable=False)

    def defer(
        self, job: Job, until: float, reason: str, detail: str = "", *, delivery: Delivery | None = None, **fields: Any
    ) -> Job:
        """Hold `job` back until `until` (it runs again then), saying why in `reason`.

        A deferred job has not been submitted, so it does not count against the hourly cap. Its crash counter
        starts over: this pass ended cleanly, and a job held back a few times must not be quarantined as if it
        had stopped the daemon. `delivery` replaces the job's record (before that reset) when given.
        """
        record: Delivery = {**(job.delivery if delivery is None else delivery), "processing_starts": 0}
        return self._change(
            job,
            State.DEFERRED,
            detail or reason,
            {"next_attempt_at": until, "reason": reason, "submitted_at": None, "delivery": record, **fields},
        )

    def _change(self, job: Job, to: State, detail: str, fields: dict[str, Any]) -> Job:
        return self.commit(Change(job, to, detail, fields))

    def commit(self, change: Change, *, durable: bool = True) -> Job:
        """One job's change (with the outbox rows it causes: both or neither) in a commit; the job once durable
        (once committed, with `durable=False`: see `mark`)."""
        apply, done = self._statements(change)
        self._write("transition", apply, durable=durable)
        return done()

    def write(self, what: str, apply: Callable[[Conn], T]) -> T:
        """Run `apply(connection)` as one group-committed write and return its result: statements outside the
        job model (controls.py's tables, retention's batches)."""
        result: list[T] = []
        self._write(what, lambda: result.append(apply(self._db)))
        return result[0]

    def checkpoint(self) -> None:
        """Truncate the WAL (retention, after freeing space); gives up at once rather than wait for a reader."""
        with self._lock:
            self.database.checkpoint()

    def set_meta(self, key: str, value: str | None) -> None:
        self._write("set_meta", lambda: put_meta(self._db, key, value))
