"""The journal's group commit: many writers share one fsync, and none returns before its change is durable.

Every test runs against both backends (tests/kit/journals.py): real SQLite files under tmp_path, and a real
PostgreSQL server. The batching tests make the batches deterministic by
holding the journal's transaction lock (`Journal._lock`, taken by the leader around BEGIN ... COMMIT): the first
writer becomes the leader with a batch of one and blocks on that lock; the next writers queue behind it; when the
lock is released the leader commits its batch and one of the queued writers commits all the rest in one go. A
trace callback on the journal's connection records the statements, so the tests count transactions and the
writers (savepoints) in each one instead of guessing from timings.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.journals import JournalBackend

from faxdropd.jobs.journal import EXIT_JOURNAL_FAILURE, Job, Journal, JournalFailure, State, new_job_id
from faxdropd.jobs.pending import Change
from faxdropd.jobs.schema import NOT_FINAL, SCHEMA, journal_path, row_to_job
from faxdropd.store.conn import DB_ERRORS, Conn

ROOT = Path(__file__).resolve().parents[1]
# The path a job takes through the journal in these tests, after CLAIMED.
PATH = (State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.DELIVERED)


# --- helpers -----------------------------------------------------------------------------------------------------


def make_job() -> Job:
    job_id = new_job_id()
    return Job(
        id=job_id,
        reference=f"fd-{job_id}",
        folder="f",
        hot="/hot",
        name=f"{job_id}.pdf",
        work_path=f"/work/{job_id}.pdf",
        sidecar_path=None,
        state=State.CLAIMED,
    )


@contextlib.contextmanager
def statements_seen(journal: Journal) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its values) the journal executes meanwhile, in order."""
    seen: list[tuple[str, Any]] = []
    db = journal._db

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(db, name)

        def execute(self, sql: str, *args: Any) -> Any:
            seen.append((sql, args[0] if args else None))
            return db.execute(sql, *args)

    journal._db = Recording()
    try:
        yield seen
    finally:
        journal._db = db


def ro_connect(backend: JournalBackend, state_dir: Path) -> Conn:
    """A connection of its own, read-only: what it sees is committed, whatever the journal's connection holds."""
    return backend.reader(state_dir).conn


def rows(db: Conn, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    # fetchall, never fetchone: a statement left unfinished keeps its read transaction (and its old snapshot) open.
    return [tuple(r) for r in db.execute(sql, args).fetchall()]


def meta_keys(db: Conn) -> set[str]:
    return {r[0] for r in rows(db, "SELECT key FROM meta")}


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.001)  # the poll interval of this condition wait


def join_all(threads: list[threading.Thread], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    assert not stuck, f"writer threads still blocked: {stuck}"


class Trace:
    """The statements run on the journal's connection (the callback runs on whichever thread leads a batch)."""

    def __init__(self, journal: Journal) -> None:
        self._lock = threading.Lock()
        self._statements: list[str] = []
        journal._db.set_trace_callback(self._record)

    def _record(self, sql: str) -> None:
        with self._lock:
            self._statements.append(" ".join(sql.split()).upper())

    @property
    def statements(self) -> list[str]:
        with self._lock:
            return list(self._statements)

    def count(self, statement: str) -> int:
        return self.statements.count(statement)

    def committed_batches(self) -> list[int]:
        """How many writers each committed transaction held, in commit order: one savepoint each, or none for a
        writer alone in its transaction."""
        sizes: list[int] = []
        current: int | None = None
        for sql in self.statements:
            if sql.startswith("BEGIN"):
                current = 0
            elif sql.startswith("SAVEPOINT") and current is not None:
                current += 1
            elif sql == "COMMIT" and current is not None:
                sizes.append(current or 1)
                current = None
            elif sql == "ROLLBACK":
                current = None
        return sizes


Outcomes = dict[str, BaseException | None]


def start_writer(name: str, write: Callable[[], None], outcomes: Outcomes) -> threading.Thread:
    def run() -> None:
        try:
            write()
        except BaseException as exc:
            outcomes[name] = exc
        else:
            outcomes[name] = None

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


def queued(journal: Journal, n: int) -> Callable[[], bool]:
    return lambda: len(journal._queue) == n


def two_batches(
    journal: Journal,
    first: Callable[[], None],
    followers: list[tuple[str, Callable[[], None]]],
    while_held: Callable[[], None] | None = None,
) -> Outcomes:
    """Run `first` as a batch of its own, then every follower together in one batch, queued in list order.

    `while_held` runs once everyone is queued, just before the leader is let go.
    """
    outcomes: Outcomes = {}
    threads: list[threading.Thread] = []
    journal._lock.acquire()
    try:
        threads.append(start_writer("first", first, outcomes))
        # The first writer leads with a batch of one; it now waits for the transaction lock this thread holds.
        wait_until(lambda: (journal._leader is not None) and not journal._queue, "the first writer to lead")
        for n, (name, write) in enumerate(followers, start=1):
            threads.append(start_writer(name, write, outcomes))
            wait_until(queued(journal, n), f"{name} to queue")
        assert outcomes == {}, f"a writer returned before any commit could happen: {outcomes}"
        assert all(t.is_alive() for t in threads)
        if while_held is not None:
            while_held()
    finally:
        journal._lock.release()
    join_all(threads)
    return outcomes


def run_workers(worker: Callable[[int], None], n: int, timeout: float = 30.0) -> None:
    """Run worker(0..n-1) in threads; an exception (or failed assert) in any of them fails the test."""
    errors: list[BaseException] = []

    def run(t: int) -> None:
        try:
            worker(t)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,), name=f"w{t}", daemon=True) for t in range(n)]
    for thread in threads:
        thread.start()
    join_all(threads, timeout)
    if errors:
        raise errors[0]


@pytest.fixture
def journal(tmp_path: Path, journal_backend: JournalBackend) -> Iterator[Journal]:
    j = journal_backend.open(tmp_path / "state")
    yield j
    j.close()


@pytest.fixture
def fragile_journal(tmp_path: Path, journal_backend: JournalBackend) -> Iterator[Journal]:
    """A journal that raises JournalFailure instead of ending the process, so a failed batch can be inspected."""
    j = journal_backend.open(tmp_path / "state", exit_on_failure=False)
    yield j
    j.close()


# --- 1. many writers, one journal ----------------------------------------------------------------------------------


def test_concurrent_writers_leave_every_job_in_its_last_state_with_its_events_in_order(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    threads_n, writes_n = 8, 100
    expected: dict[str, list[tuple[str | None, str, str]]] = {}  # job id -> (from, to, detail) in commit order
    final: dict[str, tuple[str, int]] = {}  # job id -> (state, attempts)
    meta: dict[str, str] = {}
    writes: list[int] = []  # journal writes each worker made
    merge = threading.Lock()
    trace = Trace(journal)

    def worker(t: int) -> None:
        mine: dict[str, list[tuple[str | None, str, str]]] = {}
        last: dict[str, tuple[str, int]] = {}
        my_meta: dict[str, str] = {}
        job: Job | None = None
        step, my_writes = 0, 0
        for k in range(writes_n):
            my_writes += 1
            if job is None or job.state == State.DELIVERED:
                job, step = make_job(), 0
                if k % 2:
                    extra = make_job()  # a second claim journaled in the same commit, left CLAIMED
                    journal.create_many([job, extra])
                    mine[extra.id] = [(None, "claimed", "created")]
                    last[extra.id] = ("claimed", 0)
                else:
                    journal.create(job)
                mine[job.id] = [(None, "claimed", "created")]
                last[job.id] = ("claimed", 0)
            elif k % 3 == 0:
                journal.set_meta(f"t{t}-{k}", f"{t}:{k}")
                my_meta[f"t{t}-{k}"] = f"{t}:{k}"
                journal.set_meta(f"last-{t}", str(k))  # overwritten: the last value must win
                my_meta[f"last-{t}"] = str(k)
                my_writes += 1
            else:
                to, step = PATH[step], step + 1
                old = str(job.state)
                journal.transition(job, to, f"t{t} step {step}", attempts=step)
                assert job.state == to and job.attempts == step
                mine[job.id].append((old, str(to), f"t{t} step {step}"))
                last[job.id] = (str(to), step)
        with merge:
            expected.update(mine)
            final.update(last)
            meta.update(my_meta)
            writes.append(my_writes)

    run_workers(worker, threads_n)
    assert len(expected) == len(final) and expected, "every worker ran to the end"
    # Each transaction that began was committed: nothing was rolled back along the way.
    assert trace.count("ROLLBACK") == 0
    assert trace.count("COMMIT") == sum(s.startswith("BEGIN") for s in trace.statements)
    assert sum(trace.committed_batches()) == sum(writes), "every writer was committed, in one transaction each"
    journal.close()

    reopened = journal_backend.open(tmp_path / "state", read_only=True)
    try:
        for job_id, events in expected.items():
            job = reopened.get(job_id)
            assert job is not None, f"job {job_id} missing"
            assert (str(job.state), job.attempts) == final[job_id]
            got = [(e["from_state"], e["to_state"], e["detail"]) for e in reopened.events(job_id)]
            assert got == events, f"events of {job_id}"
        total_events = reopened._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        assert total_events == sum(len(e) for e in expected.values()), "no event for a job we did not write"
        assert reopened._db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == len(expected)
        for key, value in meta.items():
            assert reopened.get_meta(key) == value
        assert reopened.database.integrity() == "ok"
    finally:
        reopened.close()


# --- 2. batching is real -----------------------------------------------------------------------------------------


def test_writers_queued_behind_a_commit_share_the_next_one(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    followers_n = 6
    trace = Trace(journal)
    jobs = [make_job() for _ in range(followers_n)]

    def follower(n: int, job: Job) -> tuple[str, Callable[[], None]]:
        def write() -> None:
            if n % 3 == 0:
                journal.create(job)
            elif n % 3 == 1:
                journal.set_meta(f"k{n}", "v")
            else:
                journal.create_many([job])

        return f"writer-{n}", write

    followers = [follower(n, job) for n, job in enumerate(jobs)]
    outcomes = two_batches(journal, lambda: journal.set_meta("first", "v"), followers)

    assert outcomes == dict.fromkeys(["first", *(name for name, _ in followers)])
    # Exactly two transactions: the leader's batch of one, then all the followers in one COMMIT.
    assert trace.count("COMMIT") == 2
    assert trace.committed_batches() == [1, followers_n]
    db = ro_connect(journal_backend, tmp_path / "state")
    try:
        keys = meta_keys(db)
        assert "first" in keys
        assert {f"k{n}" for n in range(followers_n) if n % 3 == 1} <= keys
        created = {r[0] for r in rows(db, "SELECT id FROM jobs")}
        assert created == {job.id for n, job in enumerate(jobs) if n % 3 != 1}
    finally:
        db.close()


# --- 3. a returned write is a committed write ----------------------------------------------------------------------


def test_every_write_is_committed_when_it_returns(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    threads_n, rounds = 4, 12
    state_dir = tmp_path / "state"
    checked: list[int] = [0] * threads_n
    problems: list[str] = []
    problems_lock = threading.Lock()

    def complain(message: str) -> None:
        with problems_lock:
            problems.append(message)

    def worker(t: int) -> None:
        db = ro_connect(journal_backend, state_dir)
        try:
            for r in range(rounds):
                job = journal.create(make_job())
                got = rows(db, "SELECT state FROM jobs WHERE id = ?", job.id)
                if got != [("claimed",)]:
                    complain(f"create of {job.id} returned before commit: {got}")
                checked[t] += 1
                for to in PATH[:2]:
                    journal.transition(job, to, "step")
                    got = rows(db, "SELECT state FROM jobs WHERE id = ?", job.id)
                    events = rows(db, "SELECT to_state FROM events WHERE job_id = ? ORDER BY seq", job.id)
                    if got != [(str(to),)] or events[-1:] != [(str(to),)]:
                        complain(f"transition of {job.id} to {to} returned before commit: {got} {events}")
                    checked[t] += 1
                key = f"t{t}-r{r}"
                journal.set_meta(key, str(r))
                got = rows(db, "SELECT value FROM meta WHERE key = ?", key)
                if got != [(str(r),)]:
                    complain(f"set_meta {key} returned before commit: {got}")
                checked[t] += 1
        finally:
            db.close()

    run_workers(worker, threads_n)
    assert problems == []
    assert checked == [rounds * 4] * threads_n, "every write was checked"


def test_queued_writers_are_not_committed_until_their_batch_is(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    """While the leader is held, the queued writers' changes are nowhere on disk, and their calls have not returned."""

    def set_meta(key: str) -> Callable[[], None]:
        return lambda: journal.set_meta(key, "v")

    followers = [(f"f{n}", set_meta(f"f{n}")) for n in range(3)]
    db = ro_connect(journal_backend, tmp_path / "state")
    seen_while_held: list[set[str]] = []
    outcomes = two_batches(
        journal,
        lambda: journal.set_meta("first", "v"),
        followers,
        while_held=lambda: seen_while_held.append(meta_keys(db)),
    )
    try:
        assert seen_while_held == [set()]
        assert outcomes == {"first": None, "f0": None, "f1": None, "f2": None}
        assert meta_keys(db) == {"first", "f0", "f1", "f2"}
    finally:
        db.close()


def test_a_batch_waits_for_the_disk_when_any_of_its_writers_must(journal: Journal) -> None:
    """A mark alone commits without waiting for the disk (SQLite's synchronous=NORMAL, PostgreSQL's
    synchronous_commit off); batched with a durable writer it is committed as durably as that one."""
    trace = Trace(journal)
    one, two = journal.create(make_job()), journal.create(make_job())
    outcomes = two_batches(
        journal,
        lambda: journal.mark(one, "alone", delivery={"processing_starts": 1}),
        [
            ("mark", lambda: journal.mark(two, "batched", delivery={"processing_starts": 1})),
            ("durable", lambda: journal.set_meta("k", "v")),
        ],
    )
    assert outcomes == {"first": None, "mark": None, "durable": None}
    lowering = {"PRAGMA SYNCHRONOUS=NORMAL", "SET LOCAL SYNCHRONOUS_COMMIT TO OFF"}
    lowered, current = [], False
    for sql in trace.statements:  # SQLite lowers before BEGIN, PostgreSQL inside the transaction
        current = current or sql in lowering
        if sql == "COMMIT":
            lowered.append(current)
            current = False
    assert lowered == [False, False, True, False]  # two creations, the lone mark, the mixed batch
    assert journal.get_meta("k") == "v"
    assert [journal.get(j.id).delivery["processing_starts"] for j in (one, two)] == [1, 1]  # type: ignore[union-attr]


# --- 4. a Python exception in one writer fails that writer alone ---------------------------------------------------


@pytest.mark.parametrize("who", ["leader", "follower"])
def test_a_writer_that_raises_fails_alone_and_its_batch_commits(
    journal: Journal, tmp_path: Path, who: str, journal_backend: JournalBackend
) -> None:
    """One writer's apply inserts a row and then raises ValueError; it gets the ValueError, the others commit.

    `who` picks the failing writer from inside the batch: the leader's own writer (its thread runs the batch), or
    the first follower whose statements the leader runs for it.
    """
    trace = Trace(journal)
    failed: list[str] = []  # touched only by the thread running the batch

    def writer(key: str) -> Callable[[], None]:
        def write() -> None:
            owner = threading.current_thread()

            def apply() -> None:
                journal._db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, "v"))
                leads = threading.current_thread() is owner
                if not failed and leads == (who == "leader"):
                    failed.append(key)
                    raise ValueError(f"bug in {key}")

            journal._write("x", apply)

        return write

    names = [f"w{n}" for n in range(5)]
    outcomes = two_batches(journal, lambda: journal.set_meta("first", "v"), [(n, writer(n)) for n in names])

    assert trace.committed_batches() == [1, len(names)], "the failing writer shared its batch with the others"
    assert len(failed) == 1
    [bad] = failed
    error = outcomes.pop(bad)
    assert isinstance(error, ValueError) and str(error) == f"bug in {bad}"
    assert outcomes == dict.fromkeys(["first", *(n for n in names if n != bad)])
    db = ro_connect(journal_backend, tmp_path / "state")
    try:
        assert meta_keys(db) == {"first", *names} - {bad}
    finally:
        db.close()
    assert not journal._db.in_transaction
    journal.set_meta("after", "v")
    assert journal.get_meta("after") == "v"


# --- 5. a sqlite error fails the whole batch -----------------------------------------------------------------------


def test_a_sqlite_error_fails_every_writer_of_its_batch(
    fragile_journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    journal = fragile_journal
    claimed = journal.create(make_job())
    fresh = make_job()
    trace = Trace(journal)

    def bad() -> None:
        journal._db.execute("INSERT INTO no_such_table (x) VALUES (1)")

    def moved() -> None:
        journal.transition(claimed, State.UPLOADING, "in the failed batch")

    def created() -> None:
        journal.create(fresh)

    # Writers both before and after the bad one in the batch: applied-and-released, and never applied.
    followers: list[tuple[str, Callable[[], None]]] = [
        ("meta-before", lambda: journal.set_meta("before", "v")),
        ("transition", moved),
        ("bad", lambda: journal._write("bad", bad)),
        ("create", created),
        ("meta-after", lambda: journal.set_meta("after", "v")),
    ]
    outcomes = two_batches(journal, lambda: journal.set_meta("first", "v"), followers)

    assert outcomes.pop("first") is None
    assert set(outcomes) == {name for name, _ in followers}
    for name, error in outcomes.items():
        assert isinstance(error, JournalFailure), f"{name} got {error!r}"
        assert isinstance(error.__cause__, DB_ERRORS), f"{name}: {error.__cause__!r}"
    assert trace.committed_batches() == [1], "the second batch did not commit"
    assert trace.count("ROLLBACK") == 1
    assert not journal._db.in_transaction
    assert claimed.state == State.CLAIMED, "a failed transition leaves the in-memory job as it was"

    db = ro_connect(journal_backend, tmp_path / "state")
    try:
        assert meta_keys(db) == {"first"}
        assert rows(db, "SELECT id, state FROM jobs") == [(claimed.id, "claimed")]
        assert rows(db, "SELECT job_id, to_state FROM events") == [(claimed.id, "claimed")]
        # The journal goes on: a later write commits.
        journal.transition(claimed, State.UPLOADING, "after the failure")
        journal.set_meta("later", "v")
        assert meta_keys(db) == {"first", "later"}
        assert rows(db, "SELECT state FROM jobs WHERE id = ?", claimed.id) == [("uploading",)]
    finally:
        db.close()


# --- 6 and 7. subprocesses: SIGKILL, and the exit on a failed write --------------------------------------------


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


KILLED_WRITER = textwrap.dedent("""
    import os, sys, threading
    from pathlib import Path
    from faxdropd.jobs.journal import Journal

    journal = Journal(Path(sys.argv[1]), url=os.environ.get("JOURNAL_URL") or None)
    out = threading.Lock()

    def loop(i):
        n = 0
        while True:
            key = f"t{i}-{n}"
            journal.set_meta(key, "v")
            with out:  # acknowledged only after set_meta returned
                sys.stdout.write(key + "\\n")
                sys.stdout.flush()
            n += 1

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
""")


def test_every_acknowledged_write_survives_sigkill(tmp_path: Path, journal_backend: JournalBackend) -> None:
    state_dir = tmp_path / "state"
    wanted = 200
    lines: queue.Queue[str | None] = queue.Queue()
    with (tmp_path / "child.stderr").open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(state_dir)],
            cwd=ROOT,
            env={**child_env(), **journal_backend.env()},
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        assert proc.stdout is not None
        stdout = proc.stdout

        def read() -> None:
            for line in stdout:
                lines.put(line)
            lines.put(None)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        acked: list[str] = []
        try:
            deadline = time.monotonic() + 30
            while len(acked) < wanted:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                assert line is not None, f"child ended early: {(tmp_path / 'child.stderr').read_text()}"
                if line.endswith("\n"):
                    acked.append(line.strip())
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        reader.join(timeout=10)
        assert not reader.is_alive()
    assert proc.returncode == -signal.SIGKILL, "the child was killed mid-write, not ended on its own"
    # What the child managed to print before the kill was acknowledged as well.
    while (line := lines.get(timeout=1)) is not None:
        if line.endswith("\n"):
            acked.append(line.strip())

    assert len(acked) >= wanted and all(key.startswith("t") for key in acked)
    reopened = journal_backend.open(state_dir, read_only=True)
    try:
        present = {r[0] for r in reopened._db.execute("SELECT key FROM meta").fetchall()}
        missing = sorted(set(acked) - present)
        assert missing == [], f"{len(missing)} acknowledged writes lost: {missing[:10]}"
        assert reopened.database.integrity() == "ok"
    finally:
        reopened.close()


FAILING_WRITER = textwrap.dedent("""
    import os, sys, threading, time
    from pathlib import Path
    from faxdropd.jobs.journal import Journal

    journal = Journal(Path(sys.argv[1]), url=os.environ.get("JOURNAL_URL") or None)
    journal.set_meta("before", "v")

    def bad():
        journal._db.execute("INSERT INTO no_such_table (x) VALUES (1)")

    def write(name, apply):
        journal._write(name, apply)
        print("returned", name, flush=True)

    def good():
        journal._db.execute("INSERT INTO meta (key, value) VALUES ('good', 'v')")

    if sys.argv[2] == "alone":
        write("bad", bad)
    else:  # the bad writer queued with another behind a held leader, so they share a batch
        journal._lock.acquire()
        threads = [threading.Thread(target=journal.set_meta, args=("first", "v"), daemon=True)]
        threads[0].start()
        while not (journal._leader is not None) or journal._queue:
            time.sleep(0.001)  # polling the condition (the parent's timeout bounds the script)
        for name, apply in (("good", good), ("bad", bad)):
            threads.append(threading.Thread(target=write, args=(name, apply), daemon=True))
            threads[-1].start()
            while len(journal._queue) < len(threads) - 1:
                time.sleep(0.001)  # polling the condition
        journal._lock.release()
        for t in threads:
            t.join(10)
    print("main carried on", flush=True)
""")


@pytest.mark.parametrize("batch", ["alone", "batched"])
def test_a_sqlite_error_ends_the_process_with_74(tmp_path: Path, batch: str, journal_backend: JournalBackend) -> None:
    state_dir = tmp_path / "state"
    done = subprocess.run(
        [sys.executable, "-c", FAILING_WRITER, str(state_dir), batch],
        cwd=ROOT,
        env={**child_env(), **journal_backend.env()},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == EXIT_JOURNAL_FAILURE == 74, done.stderr
    assert "returned" not in done.stdout and "carried on" not in done.stdout, done.stdout
    assert "journal.write_failed" in done.stdout + done.stderr
    reopened = journal_backend.open(state_dir, read_only=True)
    try:
        assert reopened.get_meta("before") == "v"
        assert reopened.get_meta("good") is None, "the batch with the failed write did not commit"
    finally:
        reopened.close()


def test_a_write_from_inside_a_write_fails_that_writer_instead_of_deadlocking(
    tmp_path: Path, journal_backend: JournalBackend
) -> None:
    journal = journal_backend.open(tmp_path / "state")
    try:

        def nested() -> None:
            journal.set_meta("inner", "v")  # the leader would wait for its own batch forever

        with pytest.raises(RuntimeError, match="inside a journal write"):
            journal._write("outer", nested)
        assert journal.get_meta("inner") is None
        journal.set_meta("after", "ok")  # the journal is still usable
        assert journal.get_meta("after") == "ok"
    finally:
        journal.close()


def test_a_batch_of_changes_is_one_commit_and_a_job_taken_over_is_left_out(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    """Journal.change_many (the tracker's poll round): one COMMIT for all; a job another instance owns now comes
    back None, untouched, and the others commit as if each had been written alone."""
    journal.owner = "host-a"
    mine, lost, other = (journal.create(make_job()) for _ in range(3))
    journal.write("take over", lambda db: db.execute("UPDATE jobs SET owner = 'host-b' WHERE id = ?", (lost.id,)))
    with statements_seen(journal) as seen:
        done = journal.change_many(
            [Change(job, State.SUBMITTED, "status", {"attempts": 7}) for job in (mine, lost, other)]
        )
    assert [sql for sql, _ in seen].count("COMMIT") == 1
    assert [j.id if j else None for j in done] == [mine.id, None, other.id]
    reader = ro_connect(journal_backend, tmp_path / "state")
    found = dict(rows(reader, "SELECT id, attempts FROM jobs"))
    assert found == {mine.id: 7, lost.id: 0, other.id: 7}
    assert rows(reader, "SELECT COUNT(*) FROM events WHERE detail = 'status'") == [(2,)]
    assert journal.change_many([]) == []


def test_a_writer_alone_that_raises_leaves_nothing_behind(
    journal: Journal, tmp_path: Path, journal_backend: JournalBackend
) -> None:
    """Without a savepoint (a writer alone in its transaction) a failure still undoes its statements, not more."""
    job = journal.create(make_job())
    trace = Trace(journal)

    def half(db: Conn) -> None:
        db.execute("UPDATE jobs SET attempts = 9 WHERE id = ?", (job.id,))
        raise ValueError("a bug half-way through")

    with pytest.raises(ValueError, match="half-way"):
        journal.write("half", half)
    assert not any(s.startswith("SAVEPOINT") for s in trace.statements) and trace.count("COMMIT") == 0
    reader = ro_connect(journal_backend, tmp_path / "state")
    assert rows(reader, "SELECT attempts FROM jobs WHERE id = ?", job.id) == [(0,)]
    journal.update(job, "after", attempts=1)  # the journal goes on as before
    assert rows(reader, "SELECT attempts FROM jobs WHERE id = ?", job.id) == [(1,)]


def test_a_claim_and_a_change_bind_their_values_by_position(journal: Journal) -> None:
    """sqlite3 lets go of the GIL once per *named* parameter (to look its name up), and the journal's busiest
    statements carry ~30 (a new job) and ~8 (a change) of them: with four workers, the filing thread and the
    tracker waiting for the GIL, each let-go was a thread hand-off. Bound by position they cost one."""
    journal.owner = "host-a"  # the owner guard adds its own parameter
    with statements_seen(journal) as seen:
        job = journal.create(make_job())
        journal.transition(job, State.SUBMITTED, "sent", transaction_ids=[1], attempts=1)
    writes = [(sql, args) for sql, args in seen if sql.startswith(("INSERT INTO jobs", "UPDATE jobs"))]
    assert [sql.split()[0] for sql, _ in writes] == ["INSERT", "UPDATE"]
    for sql, args in writes:
        assert isinstance(args, list | tuple), sql
        assert sql.count("?") == len(args), sql


def test_a_cached_read_of_a_state_rereads_only_changed_jobs(journal: Journal) -> None:
    """The tracker reads the submitted jobs twice a second: by_state_cached gives what by_state gives, reading
    whole rows only for jobs that are new or changed since the last read (the others are the same objects)."""
    a, b, c = (journal.create(make_job()) for _ in range(3))
    for job in (a, b, c):
        journal.transition(job, State.SUBMITTED, "sent", transaction_ids=[1])
    cache: dict[str, Job] = {}
    first = journal.by_state_cached(cache, State.SUBMITTED)
    assert [j.id for j in first] == [j.id for j in journal.by_state(State.SUBMITTED)] == [a.id, b.id, c.id]

    journal.update(journal.get(b.id) or b, "status", delivery={"items": {"1": {"status": -2}}})
    journal.transition(journal.get(c.id) or c, State.DELIVERED, "filed", outcome="delivered")
    with statements_seen(journal) as seen:
        second = journal.by_state_cached(cache, State.SUBMITTED)
    assert [j.id for j in second] == [a.id, b.id]
    assert second[0] is first[0]  # unchanged: not read again
    assert second[1].delivery == {"items": {"1": {"status": -2}}}  # changed: read again
    whole_rows = [sql for sql, _ in seen if sql.startswith("SELECT * FROM jobs")]
    assert len(whole_rows) == 1 and whole_rows[0].count("?") == 1  # one row: b's
    assert set(cache) == {a.id, b.id}  # c left the state and the cache


@contextlib.contextmanager
def _reopened_from_before(state: Path, step: int, *undo: str) -> Iterator[tuple[sqlite3.Connection, set[str]]]:
    """A journal as the release before migration `step` left it (`undo` puts back what the step changes), opened
    by the daemon's Journal (which applies the step), then read directly: the connection and the index names."""
    Journal(state).close()
    db = sqlite3.connect(journal_path(state))
    with db:
        for statement in undo:
            db.execute(statement)
        db.execute("DELETE FROM migrations WHERE version >= ?", (step,))
    db.close()
    Journal(state).close()
    db = sqlite3.connect(journal_path(state))
    try:
        yield db, {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()


def test_a_journal_from_before_loses_the_state_only_index_and_still_searches_by_state(tmp_path: Path) -> None:
    with _reopened_from_before(tmp_path / "state", 4, "CREATE INDEX jobs_state ON jobs(state)") as (db, indexes):
        assert "jobs_state" not in indexes
        marks = ", ".join("?" * len(NOT_FINAL))
        plan = db.execute(
            f"EXPLAIN QUERY PLAN SELECT * FROM jobs WHERE state IN ({marks}) ORDER BY created_at",
            [str(s) for s in NOT_FINAL],
        ).fetchall()
        assert any("USING INDEX jobs_state_age" in row[-1] for row in plan), plan


def test_a_journal_from_before_keeps_only_owned_jobs_in_the_owner_index_and_leases_still_use_it(
    tmp_path: Path,
) -> None:
    every_job = ("DROP INDEX IF EXISTS jobs_owned", "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs(owner, state)")
    with _reopened_from_before(tmp_path / "state", 5, *every_job) as (db, indexes):
        assert "jobs_owner" not in indexes and "jobs_owned" in indexes
        marks = ", ".join("?" * len(NOT_FINAL))
        # The lease renewal's and the instance overview's lookups (jobs/leases.py) still find it.
        for query in (
            f"UPDATE jobs SET lease_until = 1 WHERE owner = ? AND state IN ({marks})",
            f"SELECT COUNT(*) FROM jobs j WHERE j.owner = ? AND j.state IN ({marks})",
        ):
            plan = db.execute(f"EXPLAIN QUERY PLAN {query}", ["host-a", *map(str, NOT_FINAL)]).fetchall()
            assert any("INDEX jobs_owned" in row[-1] for row in plan), (query, plan)


def _wal_frames_of_one_change(journal: Journal, job: Job) -> int:
    conn = journal.database.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # an empty WAL: what follows is this change's pages alone
    journal.transition(job, State.SUBMITTING, "inline", submitted_at=time.time())
    return int(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_a_state_change_of_a_job_without_an_owner_writes_no_owner_index_page(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    try:
        jobs = journal.create_many([make_job(), make_job(), make_job()])
        assert jobs[0].owner is None  # one host, no shared journal
        now = _wal_frames_of_one_change(journal, jobs[0])
        journal.database.conn.execute("DROP INDEX jobs_owned")
        without = _wal_frames_of_one_change(journal, jobs[1])
        journal.database.conn.execute("CREATE INDEX jobs_owner ON jobs(owner, state)")  # every job, as before
        before = _wal_frames_of_one_change(journal, jobs[2])
    finally:
        journal.close()
    # As cheap as with no owner index at all; an index of every job would cost a page more.
    assert (now, before) == (without, without + 1)


def test_a_row_of_a_journal_an_older_release_left_reads_with_the_newer_fields_defaulted(tmp_path: Path) -> None:
    # Step 1 alone: no `owner` or `lease_until` (step 2), as a console may read it before the daemon's restart.
    db = sqlite3.connect(tmp_path / "old.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        db.executescript(SCHEMA)
        db.execute(
            "INSERT INTO jobs (id, reference, folder, hot, name, work_path, state, created_at, updated_at) "
            "VALUES ('j1', 'fd-j1', 'inbox', '/hot', 'a.pdf', '/w/a.pdf', 'claimed', 1.0, 1.0)"
        )
        job = row_to_job(db.execute("SELECT * FROM jobs").fetchone())
    finally:
        db.close()
    assert (job.id, job.state, job.numbers, job.owner, job.lease_until) == ("j1", State.CLAIMED, [], None, None)
