"""Leases on a shared journal: two instances on one real PostgreSQL database, in one process.

Each instance is a Journal of its own (its own state_dir and connection) registered under its own name. The
lease is set short on the Journal itself (the config's minimum is 3 s) and the tests wait for the database's
clock to pass it by polling the take-over query, never by sleeping a fixed time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.journals import JournalBackend, new_database
from kit.pg import PgCluster

from faxdropd.config import Config, parse_config
from faxdropd.daemon.metrics import NullMetrics
from faxdropd.errors import Fenced, JobTaken
from faxdropd.files import workarea
from faxdropd.jobs import instances, leases
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.journal import Job, Journal, State, new_job_id
from faxdropd.jobs.migrations import MIGRATIONS
from faxdropd.jobs.runtime import Pause, Runtime
from faxdropd.jobs.takeover import take_over

LEASE = 0.6


def config(tmp_path: Path, name: str, url: str) -> Config:
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / f"state-{name}"),
        "instance": name,
        "journal": url,
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100"}],
    }
    return parse_config(data, base_dir=tmp_path, env={"PW": "not-a-real-password"})


@pytest.fixture
def shared(pg_cluster: PgCluster) -> Iterator[str]:
    name, url = new_database(pg_cluster)
    yield url
    if pg_cluster.running:
        pg_cluster.drop_database(name)


def instance(tmp_path: Path, name: str, url: str) -> tuple[Journal, Config]:
    cfg = config(tmp_path, name, url)
    journal = Journal(cfg.state_dir, url=url)
    instances.resolve(journal, cfg)
    journal.lease = LEASE
    leases.renew(journal)
    return journal, cfg


def new_job(journal: Journal, hot: Path, state: State = State.CLAIMED) -> Job:
    job_id = new_job_id()
    work = workarea.work_dir(hot) / f"{job_id}__doc.pdf"
    work.write_bytes(b"%PDF-1.4\n%%EOF\n")
    job = journal.create(
        Job(
            id=job_id,
            reference=f"fd-{job_id}",
            folder="hot",
            hot=str(hot),
            name="doc.pdf",
            work_path=str(work),
            sidecar_path=None,
            state=State.CLAIMED,
        )
    )
    return job if state is State.CLAIMED else journal.transition(job, state, "test")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def two(tmp_path: Path, shared: str) -> Iterator[tuple[Journal, Journal, Config]]:
    (tmp_path / "hot").mkdir()
    a, _ = instance(tmp_path, "host-a", shared)
    b, cfg_b = instance(tmp_path, "host-b", shared)
    yield a, b, cfg_b
    a.close()
    b.close()
    workarea.set_instance(None)


def test_a_renewed_job_stays_with_its_owner_and_an_expired_one_is_taken(tmp_path: Path, two: Any) -> None:
    a, b, _ = two
    workarea.set_instance("host-a")
    kept, lost = new_job(a, tmp_path / "hot"), new_job(a, tmp_path / "hot")
    assert [j.id for j in b.by_state(State.CLAIMED)] == [], "B works only its own jobs"
    assert {j.owner for j in a.by_state(State.CLAIMED)} == {"host-a"}
    # A keeps renewing `kept` only: a finished job is not renewed, so `lost` is left to expire by moving the
    # other one through renewals while `lost`'s lease is pushed into the past by the database's clock alone.
    a.write("age", lambda c: c.execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", (lost.id,)))
    taken = leases.take_expired(b)
    assert taken == [(lost.id, "host-a")]
    assert leases.take_expired(b) == [], "a job is taken once"
    assert [j.id for j in b.by_state(State.CLAIMED)] == [lost.id]
    assert [j.id for j in a.by_state(State.CLAIMED)] == [kept.id], "A no longer sees the taken job"
    with pytest.raises(JobTaken):
        a.transition(lost, State.UPLOADING, "A still believes it owns the job")
    assert b.get(lost.id).state is State.CLAIMED, "A's write did not land"  # type: ignore[union-attr]
    a.transition(kept, State.UPLOADING, "A's own job is still A's to change")


def test_leases_expire_on_the_database_clock_unless_renewed(tmp_path: Path, two: Any) -> None:
    a, b, _ = two
    workarea.set_instance("host-a")
    job = new_job(a, tmp_path / "hot")
    stop = threading.Event()

    def renewing() -> None:
        while not stop.wait(LEASE / 3):
            leases.renew(a)

    keeper = threading.Thread(target=renewing, daemon=True)
    keeper.start()
    try:
        started = b.read(lambda c: c.execute("SELECT extract(epoch from clock_timestamp())").fetchone()[0])
        # Three leases long, B finds nothing to take while A renews.
        while (
            b.read(lambda c: c.execute("SELECT extract(epoch from clock_timestamp())").fetchone()[0])
            < float(started) + 3 * LEASE
        ):
            assert leases.take_expired(b) == []
            time.sleep(0.05)
    finally:
        stop.set()
        keeper.join()
    assert wait_for("A's lease to expire", lambda: leases.take_expired(b)) == [(job.id, "host-a")]


@pytest.mark.parametrize(
    ("state", "after"),
    [
        (State.CLAIMED, State.DEFERRED),  # nothing sent: due at once, through the scheduler
        (State.UPLOADING, State.DEFERRED),  # an upload never submits: started again
        (State.SUBMITTING, State.UNKNOWN),  # may have reached InterFAX: reconciled by reference first
        (State.SUBMITTED, State.SUBMITTED),  # the tracker goes on polling it
    ],
)
def test_a_taken_job_is_resumed_like_after_a_crash_with_its_file_in_the_takers_area(
    tmp_path: Path, two: Any, state: State, after: State
) -> None:
    a, b, cfg_b = two
    hot = tmp_path / "hot"
    workarea.set_instance("host-a")
    job = new_job(a, hot, state)
    a.write("age", lambda c: c.execute("UPDATE jobs SET lease_until = 0 WHERE id = ?", (job.id,)))
    workarea.set_instance("host-b")
    rt = Runtime(config=cfg_b, journal=b, clients=None, metrics=NullMetrics(), pause=Pause(b))  # type: ignore[arg-type]
    assert take_over(rt, Finisher(rt)) == 1
    now = b.get(job.id)
    assert now is not None and now.state is after and now.owner == "host-b"
    moved = hot / ".faxdropd" / "host-b" / Path(job.work_path).name
    assert now.work_path == str(moved) and moved.exists() and not Path(job.work_path).exists()
    assert any("taken over from host-a" in e["detail"] for e in b.events(job.id))


def test_an_instance_that_cannot_renew_stops_starting_submissions_at_two_thirds_of_a_lease(two: Any) -> None:
    a, _, _ = two
    a.lease = 30.0
    now = [1000.0]
    held = leases.Leases(a, clock=lambda: now[0])
    held.renew()
    now[0] += 19.9
    held.check()  # within two thirds: submissions go on
    now[0] += 0.2
    with pytest.raises(Fenced):
        held.check()
    held.renew()
    held.check()


def test_the_same_instance_name_on_another_live_host_is_refused(tmp_path: Path, shared: str) -> None:
    (tmp_path / "hot").mkdir()
    a, _ = instance(tmp_path, "host-a", shared)
    try:
        a.write("elsewhere", lambda c: c.execute("UPDATE instances SET host = 'another-host' WHERE id = 'host-a'"))
        cfg = config(tmp_path, "host-a", shared).model_copy(update={"state_dir": tmp_path / "state-twin"})
        twin = Journal(cfg.state_dir, url=shared)
        try:
            with pytest.raises(Exception, match="in use by host another-host"):
                instances.resolve(twin, cfg)
        finally:
            twin.close()
    finally:
        a.close()


def test_two_instances_migrating_a_new_database_at_once_both_start(tmp_path: Path, shared: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start(n: int) -> None:
        try:
            barrier.wait()
            Journal(tmp_path / f"state-{n}", url=shared).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    reader = Journal(tmp_path / "state-r", url=shared, read_only=True)
    try:
        versions = reader.read(lambda c: c.execute("SELECT version FROM migrations ORDER BY version").fetchall())
    finally:
        reader.close()
    assert [v[0] for v in versions] == list(range(1, len(MIGRATIONS) + 1))


def test_the_backend_choice_is_the_journal_key(journal_backend: JournalBackend, tmp_path: Path) -> None:
    journal = journal_backend.open(tmp_path / "state")
    try:
        assert journal.shared == (journal_backend.name == "postgresql")
    finally:
        journal.close()


def test_the_status_query_budget_is_one_for_all_instances(two: Any) -> None:
    from faxdropd.jobs.budgets import SharedBudget

    a, b, _ = two
    on_a, on_b = SharedBudget(a, per_minute=6), SharedBudget(b, per_minute=6)
    taken = []
    for n in range(10):
        budget = (on_a, on_b)[n % 2]
        if budget.take(0.0):
            budget.settle(0.0)
            taken.append(n)
    assert len(taken) == 6, "six queries a minute for the account, whichever host asks"
    assert not on_a.take(0.0) and not on_b.take(0.0)
    on_b.back_off(0.0, 120.0)
    stamps = a.read(lambda c: c.execute("SELECT stamps FROM budgets").fetchall())
    assert len(stamps) == 1 and len(__import__("json").loads(stamps[0][0])) == 6


def test_the_duplicate_window_and_the_hourly_cap_count_every_instance(tmp_path: Path, two: Any) -> None:
    from faxdropd.jobs import admission as policy

    a, b, _ = two
    workarea.set_instance("host-a")
    job = new_job(a, tmp_path / "hot")
    now = time.time()
    a.transition(job, State.SUBMITTED, "sent by A", sha256="c0ffee", numbers=["+12125550100"], submitted_at=now)
    hit = policy.duplicate_of(b, "c0ffee", ["+12125550100"], 3600.0, now + 1, exclude="")
    assert hit is not None and hit.id == job.id, "B sees A's send of the same content"
    assert policy.hourly_wait(b, 1, "hot", None, now + 1) is not None, "A's send fills B's hourly cap of one"


def test_status_and_queue_show_every_instance_with_its_renewal_and_jobs(
    tmp_path: Path, two: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from faxdropd.cli.console import print_instances

    a, b, _ = two
    workarea.set_instance("host-a")
    new_job(a, tmp_path / "hot")
    new_job(a, tmp_path / "hot")
    seen = {i.id: i for i in leases.overview(b)}
    assert set(seen) == {"host-a", "host-b"}
    assert (seen["host-a"].jobs, seen["host-b"].jobs) == (2, 0)
    assert all(i.renewed_s_ago < 60 for i in seen.values())
    print_instances(list(seen.values()))
    out = capsys.readouterr().out
    assert "instances on the shared journal: 2" in out and "host-a" in out and "2 jobs owned" in out


def test_a_dead_peers_claim_that_never_reached_the_journal_goes_back_to_the_hot_folder(
    tmp_path: Path, two: Any
) -> None:
    a, b, cfg_b = two
    hot = tmp_path / "hot"
    workarea.set_instance("host-a")
    claimed = workarea.work_dir(hot) / f"{new_job_id()}__orphan.pdf"
    claimed.write_bytes(b"%PDF-1.4\n%%EOF\n")  # renamed into A's area; A died before the journal commit
    workarea.set_instance("host-b")
    rt = Runtime(config=cfg_b, journal=b, clients=None, metrics=NullMetrics(), pause=Pause(b))  # type: ignore[arg-type]
    take_over(rt, Finisher(rt))
    assert claimed.exists(), "a live peer's claim in progress is left alone"
    a.write("dead", lambda c: c.execute("UPDATE instances SET renewed_at = 0 WHERE id = 'host-a'"))
    take_over(rt, Finisher(rt))
    assert not claimed.exists() and (hot / "orphan.pdf").exists()


def test_the_journal_password_never_reaches_a_log(tmp_path: Path, shared: str) -> None:
    from faxdropd import log
    from faxdropd.jobs.opening import open_journal

    secret = "db-Pa55-" + new_job_id()
    (tmp_path / "db.pw").write_text(secret + "\n")
    (tmp_path / "db.pw").chmod(0o600)
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / "state"),
        "journal": shared,
        "journal_password_file": str(tmp_path / "db.pw"),
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100"}],
    }
    cfg = parse_config(data, base_dir=tmp_path, env={"PW": "not-a-real-password"})
    assert cfg.journal_password == secret
    open_journal(cfg, read_only=True).close()  # trust authentication: the password is sent and not needed
    assert secret not in log.scrub_text(f"connection failed: password {secret} rejected")


def test_the_status_and_queue_commands_list_the_instances_of_a_shared_journal(
    tmp_path: Path, two: Any, shared: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from faxdropd.cli.main import main

    a, _, _ = two
    workarea.set_instance("host-a")
    new_job(a, tmp_path / "hot")
    monkeypatch.setenv("PW", "not-a-real-password")
    path = tmp_path / "faxdropd.yaml"
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / "state-ops"),
        "journal": shared,
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100"}],
    }
    path.write_text(yaml.safe_dump(data))
    path.chmod(0o600)
    main(["-c", str(path), "status"])
    out = capsys.readouterr().out
    assert "instances on the shared journal: 2" in out and "1 job owned" in out, out
    assert main(["-c", str(path), "queue"]) == 0
    out = capsys.readouterr().out
    assert "host-a" in out and "host-b" in out and "1 job not final" in out, out
    main(["-c", str(path), "status", "--json"])
    listed = __import__("json").loads(capsys.readouterr().out)["instances"]
    assert {i["id"] for i in listed} == {"host-a", "host-b"}
