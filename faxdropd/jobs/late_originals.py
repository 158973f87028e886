"""The late original: a SendfaxEx_2 that InterFAX held for longer than timeout + reconcile_grace.

Reconciliation found no fax with the job's reference, so the job was sent again; if the held request is
processed after all, InterFAX now has two faxes of the same document, both carrying the reference. While a
resent job is tracked, its status is asked by reference (not by transaction id), so the late original shows
up: a twin still in progress is cancelled with CancelFax; one that already went out is reported loudly as
sent twice, in the log and the receipt. Nothing here decides the job's own outcome.

Limit: a twin that arrives after the job's own fax is final is not looked for any more.
"""

from __future__ import annotations

from typing import Final, Protocol

import structlog

from faxdropd.errors import InterfaxError
from faxdropd.interfax import codes
from faxdropd.interfax.client import FaxItem
from faxdropd.jobs.journal import Delivery, Job
from faxdropd.jobs.schema import LateOriginal

log = structlog.get_logger(__name__)

WATCH: Final = "resent_after_absence"  # delivery key: this job was sent again after a proof of absence
OWN: Final = "own_parent"  # delivery key: ParentTransactionID of the job's own (last) submission
TWINS: Final = "late_originals"  # delivery key: transaction id -> what was found and done


class Canceller(Protocol):
    def cancel_fax(self, transaction_id: int) -> None: ...


def watching(job: Job) -> bool:
    return bool(job.delivery.get(WATCH))


def mark_resend(delivery: Delivery) -> Delivery:
    return {**delivery, WATCH: True}


def pin(delivery: Delivery, transaction_id: int) -> Delivery:
    """Record the submission that is the job's own (every transaction of a broadcast has it as parent)."""
    return {**delivery, OWN: transaction_id} if delivery.get(WATCH) else delivery


def split(job: Job, items: list[FaxItem]) -> tuple[list[FaxItem], list[FaxItem]]:
    """(the job's own transactions, late originals) among items found by the job's reference."""
    own = job.delivery.get(OWN) or (min(job.transaction_ids) if job.transaction_ids else None)
    if own is None:
        return items, []
    ours = [i for i in items if own in (i.parent_id, i.transaction_id)]
    return ours, [i for i in items if own not in (i.parent_id, i.transaction_id)]


def settle(client: Canceller, job: Job, late: list[FaxItem]) -> dict[str, LateOriginal]:
    """Cancel each late original still in progress (once); returns the updated records by transaction id."""
    records: dict[str, LateOriginal] = {k: LateOriginal(**v) for k, v in job.delivery.get(TWINS, {}).items()}
    for item in late:
        key = str(item.transaction_id)
        record = records.get(key)
        if record is None:
            record = {"transaction_id": item.transaction_id, "number": item.destination, "action": "none"}
            if item.status < 0:
                try:
                    client.cancel_fax(item.transaction_id)
                    record["action"] = "cancelled"
                    log.warning(
                        "job.twin_cancelled",
                        job_id=job.id,
                        reference=job.reference,
                        transaction_id=item.transaction_id,
                        status=item.status,
                    )
                except InterfaxError as exc:
                    record["action"] = f"cancel failed: {exc}"
        record["status"], record["meaning"] = item.status, codes.status_sentence(item.status)
        if item.status == 0 and not record.get("sent_twice"):
            record["sent_twice"] = True
            log.error(
                "job.sent_twice",
                job_id=job.id,
                reference=job.reference,
                transaction_id=item.transaction_id,
                number=item.destination,
                reason="an earlier request InterFAX had held was delivered too",
            )
        records[key] = record
    return records


def note(job: Job) -> str:
    """A sentence for the receipt's reason when a late original went out, else ''."""
    sent = [r for r in job.delivery.get(TWINS, {}).values() if r.get("sent_twice")]
    if not sent:
        return ""
    tids = ", ".join(str(r["transaction_id"]) for r in sent)
    return f"; InterFAX also delivered an earlier request it had held (transaction {tids}): sent twice"
