"""The job vocabulary: outcomes, final states, Journal.update and Journal.defer, the Delivery record on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kit.journals import JournalBackend

from faxdropd.document import routing
from faxdropd.errors import Rejected
from faxdropd.jobs.finish import receipt
from faxdropd.jobs.journal import FINAL, NOT_FINAL, Job, Journal, Outcome, State, new_job_id
from faxdropd.store.opening import open_database


@pytest.fixture
def journal(tmp_path: Path, journal_backend: JournalBackend) -> Journal:
    return journal_backend.open(tmp_path / "state", exit_on_failure=False)


def new_job(journal: Journal) -> Job:
    job_id = new_job_id()
    job = Job(id=job_id, reference=f"fd-{job_id}", folder="f", hot="/hot", name="a.pdf", work_path=f"/w/{job_id}",
              sidecar_path=None, state=State.CLAIMED)  # fmt: skip
    return journal.create(job)


def test_final_and_not_final_split_the_states() -> None:
    assert {State.DELIVERED, State.FAILED, State.REJECTED, State.ADOPTED} == FINAL
    assert set(NOT_FINAL) | FINAL == set(State) and not set(NOT_FINAL) & FINAL


def test_each_outcome_names_its_final_state_and_its_folder() -> None:
    assert {o: o.state for o in Outcome} == {
        Outcome.DELIVERED: State.DELIVERED,
        Outcome.ACCEPTED: State.DELIVERED,
        Outcome.FAILED: State.FAILED,
        Outcome.REJECTED: State.REJECTED,
    }
    assert [o for o in Outcome if o.succeeded] == [Outcome.DELIVERED, Outcome.ACCEPTED]


def test_outcome_reads_back_typed_and_the_receipt_writes_the_plain_word(journal: Journal) -> None:
    job = journal.update(new_job(journal), "outcome", outcome=Outcome.ACCEPTED)
    again = journal.get(job.id)
    assert again is not None and again.outcome is Outcome.ACCEPTED
    assert json.loads(json.dumps(receipt(again)))["outcome"] == "accepted"
    raw = open_database(journal.target).conn  # a connection of its own, beside the journal's
    assert tuple(raw.execute("SELECT outcome, state FROM jobs WHERE id = ?", (job.id,)).fetchone()) == (
        "accepted",
        "claimed",
    )


def test_update_keeps_the_state_and_journals_the_change(journal: Journal) -> None:
    job = new_job(journal)
    journal.update(job, "processing", delivery={"processing_starts": 2})
    again = journal.get(job.id)
    assert again is not None and again.state is State.CLAIMED and again.delivery == {"processing_starts": 2}
    last = journal.events(job.id)[-1]
    assert (last["from_state"], last["to_state"], last["detail"]) == ("claimed", "claimed", "processing")


def test_defer_holds_the_job_back_and_restarts_its_crash_counter(journal: Journal) -> None:
    job = journal.transition(
        new_job(journal), State.UPLOADING, "upload", submitted_at=5.0, delivery={"processing_starts": 2, "items": {}}
    )
    journal.defer(job, 1234.0, "held back by limits.faxes_per_hour", "hourly cap", numbers=["+1"])
    again = journal.get(job.id)
    assert again is not None and again.state is State.DEFERRED
    assert (again.next_attempt_at, again.reason, again.submitted_at) == (
        1234.0,
        "held back by limits.faxes_per_hour",
        None,
    )
    assert again.delivery == {"processing_starts": 0, "items": {}} and again.numbers == ["+1"]
    assert journal.events(job.id)[-1]["detail"] == "hourly cap"
    # A new delivery record replaces the job's own (the tracker marks a resend that way).
    journal.defer(again, 99.0, "absent", delivery={"resent_after_absence": True})
    last = journal.get(job.id)
    assert last is not None and last.delivery == {"resent_after_absence": True, "processing_starts": 0}
    assert journal.events(job.id)[-1]["detail"] == "absent"  # the reason when no detail is given


def test_a_delivery_column_written_by_an_earlier_version_loads_unchanged(journal: Journal) -> None:
    job = new_job(journal)
    stored = {"processing_starts": 1, "items": {"7": {"transaction_id": 7, "status": 0}}, "some_future_key": [1]}
    raw = open_database(journal.target).conn
    raw.execute("UPDATE jobs SET delivery = ? WHERE id = ?", (json.dumps(stored), job.id))
    again = journal.get(job.id)
    assert again is not None and dict(again.delivery) == stored
    journal.update(again, "x", delivery={**again.delivery, "processing_starts": 2})
    [(text,)] = raw.execute("SELECT delivery FROM jobs WHERE id = ?", (job.id,)).fetchall()
    assert json.loads(text) == {**stored, "processing_starts": 2}


def test_a_routing_rejection_is_the_same_error_as_a_preflight_one() -> None:
    refusal = routing.Rejection("destination refused")
    assert isinstance(refusal, Rejected) and refusal.reason == "destination refused" and refusal.decisions == []
    with pytest.raises(Rejected, match="destination refused"):
        raise refusal
