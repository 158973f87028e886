"""Late originals (twins.py): telling a resent job's own transactions from a held request processed late, and
what is done about each. The end-to-end case against the emulator is in test_delivery.py; here the decisions,
with a canceller that records calls (CancelFax itself is exercised there and in test_client.py).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
import structlog

from faxdropd.errors import PermanentError
from faxdropd.interfax.client import FaxItem
from faxdropd.jobs import late_originals as twins
from faxdropd.jobs.journal import Job, State


def item(tid: int, parent: int, status: int, number: str = "+12125550100") -> FaxItem:
    return FaxItem(transaction_id=tid, parent_id=parent, status=status, subject="doc.pdf [fd-j1]", job_id="fd-j1",
                   destination=number, pages_sent=1 if status == 0 else 0, pages_submitted=1, duration=45,
                   remote_csid="", units=Decimal(1), cost_per_unit=Decimal("0.06"), trials=1, submit_time=None,
                   completion_time=None)  # fmt: skip


def job(tids: list[int], **delivery: object) -> Job:
    return Job(id="j1", reference="fd-j1", folder="in", hot="/in", name="doc.pdf", work_path="/in/w",
               sidecar_path=None, state=State.SUBMITTED, numbers=["+12125550100"], transaction_ids=tids,
               delivery=dict(delivery))  # fmt: skip


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.cancelled: list[int] = []
        self.fail = fail

    def cancel_fax(self, transaction_id: int) -> None:
        self.cancelled.append(transaction_id)
        if self.fail:
            raise PermanentError("transaction not found", code=-1005, operation="CancelFax")


def test_only_a_resent_job_is_watched_and_its_own_submission_is_pinned() -> None:
    delivery = twins.mark_resend({"processing_starts": 0})
    assert twins.watching(job([], **delivery)) and not twins.watching(job([]))
    assert twins.pin(delivery, 42)[twins.OWN] == 42
    assert twins.OWN not in twins.pin({"processing_starts": 0}, 42)  # an ordinary job keeps its delivery


def test_split_keeps_the_own_broadcast_and_finds_the_late_original() -> None:
    # The resend (parent 20) went to two numbers; the held original (parent 10) was processed late.
    j = job([20], **twins.pin(twins.mark_resend({}), 20))
    items = [item(20, 20, -2), item(21, 20, -2, "+12125550101"), item(10, 10, -2), item(11, 10, -1, "+12125550101")]
    ours, late = twins.split(j, items)
    assert [i.transaction_id for i in ours] == [20, 21]
    assert [i.transaction_id for i in late] == [10, 11]


def test_split_without_any_own_transaction_calls_nothing_late() -> None:
    ours, late = twins.split(job([]), [item(10, 10, -2)])
    assert [i.transaction_id for i in ours] == [10] and late == []


def test_a_late_original_in_progress_is_cancelled_once() -> None:
    client = Recorder()
    j = job([20], **twins.pin(twins.mark_resend({}), 20))
    with structlog.testing.capture_logs() as logs:
        records = twins.settle(client, j, [item(10, 10, -2)])
    assert client.cancelled == [10]
    assert records["10"]["action"] == "cancelled" and records["10"]["status"] == -2
    assert [e["event"] for e in logs] == ["job.twin_cancelled"]
    # The next query shows it cancelled: recorded, not cancelled again, and it was never sent.
    j.delivery[twins.TWINS] = records
    again = twins.settle(client, j, [item(10, 10, 3950)])
    assert client.cancelled == [10] and again["10"]["status"] == 3950 and not again["10"].get("sent_twice")
    j.delivery[twins.TWINS] = again
    assert twins.note(j) == ""


def test_a_late_original_already_delivered_is_reported_as_sent_twice() -> None:
    client = Recorder()
    j = job([20], **twins.pin(twins.mark_resend({}), 20))
    with structlog.testing.capture_logs() as logs:
        records = twins.settle(client, j, [item(10, 10, 0)])
    assert client.cancelled == []  # too late to cancel: nothing is pretended
    assert records["10"]["sent_twice"] is True
    assert [e["event"] for e in logs] == ["job.sent_twice"]
    j.delivery[twins.TWINS] = records
    assert "sent twice" in twins.note(j) and "10" in twins.note(j)
    with structlog.testing.capture_logs() as logs:
        twins.settle(client, j, [item(10, 10, 0)])
    assert logs == []  # said once


@pytest.mark.parametrize("final", [0, 3931])
def test_a_cancel_that_fails_is_recorded_and_the_outcome_still_reported(final: int) -> None:
    client = Recorder(fail=True)
    j = job([20], **twins.pin(twins.mark_resend({}), 20))
    records = twins.settle(client, j, [item(10, 10, -3)])
    assert client.cancelled == [10] and records["10"]["action"].startswith("cancel failed")
    j.delivery[twins.TWINS] = records
    later = twins.settle(client, j, [item(10, 10, final)])
    assert client.cancelled == [10]
    assert bool(later["10"].get("sent_twice")) is (final == 0)
