"""Several hosts on one share and ONE PostgreSQL journal: automatic failover through leases (issue #20).

Each host is a real daemon (its own state_dir, instance and lease keeper) watching the same hot folder, all
sending to one emulator and journaling in one database on a real PostgreSQL cluster (tests/kit/pg.py). A host
is killed with SIGKILL at a crash point (faxdropd/crashpoints.py) while it holds faxes in flight; a survivor
must take its jobs over once their leases expire and finish each of them, submitted exactly once. The emulator's
ledger is the witness: SendfaxEx_2 per reference (JobID) and per content. One `FIGURE {json}` line per test.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from daemonkit import PASSWORD, documents, receipts, wait_for
from kit.journals import new_database
from kit.pg import PgCluster

from faxdropd.emulator.server import EmulatorServer
from reliability.invariants import filed_count, ledger, sha
from reliability.rig import QUIESCE_TIMEOUT, Rig, make_emulator
from reliability.rig import hosts as several_hosts

pytestmark = pytest.mark.reliability

FINAL = ("delivered", "failed", "rejected", "adopted")
LEASE = "3s"  # the shortest the config takes: a takeover in seconds


@pytest.fixture
def shared_db(pg_cluster: PgCluster) -> Any:
    name, url = new_database(pg_cluster)
    yield url
    if not pg_cluster.running:
        pg_cluster.start()
    pg_cluster.drop_database(name)


def _hosts(tmp: Path, emulator: EmulatorServer, url: str, n: int, **extra: Any) -> list[Rig]:
    return several_hosts(tmp, emulator, n, journal=url, journal_lease=LEASE, **extra)


def _rows(url: str) -> list[tuple[str, str, str | None, str | None]]:
    with psycopg.connect(url, connect_timeout=5) as conn:
        return [(r[0], r[1], r[2], r[3]) for r in conn.execute("SELECT id, state, outcome, owner FROM jobs")]


def _all_final(url: str) -> bool:
    try:
        return all(r[1] in FINAL for r in _rows(url))
    except psycopg.Error:
        return False


def _quiesce(rigs: list[Rig], url: str, expected: int) -> None:
    def done() -> bool:
        return filed_count([rigs[0].hot]) >= expected and _all_final(url)

    try:
        wait_for(done, QUIESCE_TIMEOUT, interval=0.5, what="every document filed by some host")
    except AssertionError:
        logs = "\n".join(f"--- {r.root.name}\n{r.daemon.log_text()[-3000:]}" for r in rigs)
        raise AssertionError(f"not quiescent: {filed_count([rigs[0].hot])}/{expected}\n{logs}") from None


def _check(rigs: list[Rig], url: str, inputs: list[bytes], test: str, **figure: Any) -> dict[str, Any]:
    """Every input filed once with its receipt, each reference and content submitted exactly once."""
    hot = rigs[0].hot
    filed: Counter[str] = Counter()
    refs: list[str] = []
    for kind in ("sent", "failed"):
        docs, recs = documents(hot / kind), receipts(hot / kind)
        assert len(docs) == len(recs), f"{kind}: {len(docs)} documents, {len(recs)} receipts"
        filed.update(sha(d.read_bytes()) for d in docs)
        refs += [r["reference"] for r in recs]
    wanted = Counter(sha(x) for x in inputs)
    subs = ledger(rigs[0].emulator)["submissions"]
    per_ref = Counter(str(s["job_id"]) for s in subs)
    duplicates = sum(1 for n in per_ref.values() if n > 1)
    rows = _rows(url)
    owners = Counter(r[3] for r in rows)
    result = {
        "test": test,
        "hosts": len(rigs),
        "files": len(inputs),
        "submissions": len(subs),
        "duplicates": duplicates,
        "lost": sum((wanted - filed).values()),
        "sent": len(documents(hot / "sent")),
        "owners": dict(sorted((str(k), v) for k, v in owners.items())),
        **figure,
    }
    print("\nFIGURE " + json.dumps(result))
    assert filed == wanted, f"filed != dropped: lost {dict(wanted - filed)}, extra {dict(filed - wanted)}"
    assert duplicates == 0, f"references submitted more than once: {[r for r, n in per_ref.items() if n > 1]}"
    assert len(subs) == len(inputs) and set(per_ref) == set(refs), result
    assert all(r[1] in FINAL for r in rows), [r for r in rows if r[1] not in FINAL][:5]
    assert not any((hot / ".faxdropd").rglob("*__*")), "a work area still holds a document"
    return result


def _payload(i: int, size: int = 0) -> bytes:
    text = f"pg failover document {i}\n".encode()
    return text * max(8, size // len(text))


@pytest.mark.parametrize("hosts", [2, 3])
def test_hosts_on_one_journal_fax_every_file_exactly_once(tmp_path: Path, shared_db: str, hosts: int) -> None:
    emulator = make_emulator(tmp_path / "store")
    rigs = _hosts(tmp_path, emulator, shared_db, hosts)
    inputs = [_payload(i) for i in range(40)]
    try:
        for rig in rigs:
            rig.start()
        for i, data in enumerate(inputs):
            rigs[i % hosts].drop(f"doc-{i}.txt", data)
        _quiesce(rigs, shared_db, len(inputs))
        figure = _check(rigs, shared_db, inputs, "pg_hosts", scenario=f"{hosts} hosts, one PostgreSQL journal")
        assert len([o for o in figure["owners"] if o != "None"]) >= 2, "the work was shared between hosts"
    finally:
        for rig in rigs:
            rig.kill()
        emulator.stop()


# Where the first host dies with faxes in flight. Chunked documents (inline_max_bytes below their size) so
# `after_uploading` is an upload in progress; `after_send` is the hard case: InterFAX has the fax, the journal
# still says `submitting`, and only a lookup by reference keeps the survivor from sending it again.
KILLS = {
    "mid-upload": "after_uploading:3",
    "before-submission": "before_send:3",
    "mid-submission": "after_send:3",
    "while-tracking": "after_submitted:3",
}


@pytest.mark.parametrize("where", list(KILLS))
def test_a_survivor_finishes_the_faxes_of_a_host_killed_in_flight(tmp_path: Path, shared_db: str, where: str) -> None:
    emulator = make_emulator(tmp_path / "store", status_delay=1.0)
    limits = {"interfax": {"inline_max_bytes": 4096, "chunk_size": 2048}}
    rigs = _hosts(tmp_path, emulator, shared_db, 2, **limits)
    victim, survivor = rigs
    inputs = [_payload(i, size=9000) for i in range(8)]
    try:
        victim.start(env={"FAXDROPD_CRASH_AT": KILLS[where]})
        for i, data in enumerate(inputs):
            victim.drop(f"doc-{i}.txt", data)
        # The victim claims everything (nobody else is there) and dies at the crash point, faxes in flight.
        assert victim.wait_exit(120) == -9, victim.daemon.log_text()[-3000:]
        held = [r for r in _rows(shared_db) if r[1] not in FINAL]
        assert held and all(r[3] == "h0" for r in held), "the dead host held unfinished jobs"
        survivor.start()
        _quiesce(rigs, shared_db, len(inputs))
        taken = sum(1 for e in survivor.daemon.events() if e.get("event") == "lease.taken_over")
        figure = _check(
            rigs,
            shared_db,
            inputs,
            "pg_kill",
            scenario=f"SIGKILL {where} ({KILLS[where]})",
            held=len(held),
            taken=taken,
        )
        assert figure["taken"] >= len(held)
    finally:
        for rig in rigs:
            rig.kill()
        emulator.stop()


def test_the_database_stopped_longer_than_a_lease_loses_and_duplicates_nothing(
    tmp_path: Path, shared_db: str, pg_cluster: PgCluster
) -> None:
    emulator = make_emulator(tmp_path / "store", status_delay=1.0)
    rigs = _hosts(tmp_path, emulator, shared_db, 2)
    inputs = [_payload(i) for i in range(24)]
    restarts = 0
    try:
        for rig in rigs:
            rig.start()
        for i, data in enumerate(inputs[:12]):
            rigs[i % 2].drop(f"doc-{i}.txt", data)
        wait_for(lambda: len(_rows(shared_db)) >= 6, 60, what="jobs in the journal")
        pg_cluster.stop("immediate")
        stopped = time.monotonic()
        for i, data in enumerate(inputs[12:], start=12):
            rigs[i % 2].drop(f"doc-{i}.txt", data)
        # Crash-only: a host that cannot commit (a renewal, a claim) ends with 74; systemd would restart it.
        wait_for(lambda: all(not r.running for r in rigs), 120, what="both hosts to stop on the lost database")
        codes = [r.daemon.proc.returncode for r in rigs if r.daemon.proc is not None]
        assert codes == [74, 74], codes
        wait_for(lambda: time.monotonic() - stopped > 2 * 3.0, 30, what="two leases without the database")
        outage = time.monotonic() - stopped
        pg_cluster.start()
        for rig in rigs:
            rig.start()
            restarts += 1
        _quiesce(rigs, shared_db, len(inputs))
        _check(
            rigs,
            shared_db,
            inputs,
            "pg_outage",
            scenario="database stopped (immediate) longer than two leases, hosts restarted",
            outage_s=round(outage, 1),
            restarts=restarts,
        )
    finally:
        if not pg_cluster.running:
            pg_cluster.start()
        for rig in rigs:
            rig.kill()
        emulator.stop()


def _busiest_minute(stamps: list[float], window: float = 60.0) -> int:
    """The most queries in any sliding `window` seconds."""
    best, start = 0, 0
    for end, at in enumerate(stamps):
        while at - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_the_status_budget_is_six_a_minute_across_hosts(tmp_path: Path, shared_db: str) -> None:
    # Faxes stay in progress for minutes, so every one of them is in flight for the whole measurement; the
    # emulator enforces InterFAX's own limit (6 a minute) and would answer -1011 to a seventh query.
    emulator = EmulatorServer(
        username="demo", password=PASSWORD, store=tmp_path / "store", status_delay=600.0, query_limit=6
    ).start()
    delivery = {"track": True, "poll_interval": 0.5, "reconcile_grace": 0.5, "query_limit_per_minute": 6}
    rigs = _hosts(tmp_path, emulator, shared_db, 2, delivery=delivery)
    files = 300  # the figure: 300 faxes in flight
    try:
        for rig in rigs:
            rig.start()
        for i in range(files):
            rigs[i % 2].drop(f"doc-{i}.txt", _payload(i))

        def in_flight() -> int:
            return sum(1 for r in _rows(shared_db) if r[1] == "submitted")

        wait_for(lambda: in_flight() >= files, 300, interval=1.0, what="every fax submitted and in flight")

        def queries() -> list[dict[str, Any]]:
            return [c for c in ledger(emulator)["calls"] if str(c["op"]).startswith("FaxQuery")]

        # Two minutes and more of tracking: at least 13 queries at six a minute.
        wait_for(lambda: len(queries()) >= 13, 300, interval=2.0, what="two minutes of status queries")
        calls = queries()
        stamps = sorted(datetime.fromisoformat(str(c["at"]).replace("Z", "+00:00")).timestamp() for c in calls)
        refused = sum(1 for c in calls if c["result"] == -1011)
        owners = Counter(r[3] for r in _rows(shared_db))
        figure = {
            "test": "pg_budget",
            "hosts": len(rigs),
            "in_flight": in_flight(),
            "queries": len(calls),
            "span_s": round(stamps[-1] - stamps[0], 1),
            "busiest_minute": _busiest_minute(stamps),
            "refused_1011": refused,
            "owners": dict(sorted((str(k), v) for k, v in owners.items())),
            "scenario": f"{files} faxes in flight on 2 hosts, one account",
        }
        print("\nFIGURE " + json.dumps(figure))
        assert figure["busiest_minute"] <= 6 and refused == 0, figure
        assert len([o for o in owners if o]) == 2, "both hosts hold faxes in flight"
    finally:
        for rig in rigs:
            rig.kill()
        emulator.stop()
