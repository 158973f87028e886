"""Events of a job's life, from detection to filing (see the package's docstring for the rules)."""

from __future__ import annotations

from faxdropd.events.model import JOB, NOTHING, Event
from faxdropd.events.model import e as _e

JOB_EVENTS: dict[str, Event] = {
    "job.detected": _e("info", "a new document was seen in a hot folder", "folder file size", NOTHING),
    "job.stable": _e("info", "the document stopped changing and is about to be claimed", "folder file", NOTHING),
    "job.claimed": _e("info", "the document was moved into the work area and journaled", JOB, NOTHING),
    "job.claim_failed": _e(
        "warning",
        "the rename into the work area failed; the file stays where it is",
        "folder file error",
        "check the hot folder's permissions for the daemon's user (the error says which); it is tried again",
    ),
    "job.uploading": _e(
        "info", "pre-flight, routing and limits passed; the upload starts", f"{JOB} size pages numbers", NOTHING
    ),
    "job.submitted": _e(
        "info", "InterFAX accepted the fax and gave its transaction id", f"{JOB} transaction_id numbers", NOTHING
    ),
    "job.unknown": _e(
        "warning",
        "the submission's reply was lost; it is settled by its reference, never resent",
        "job_id reference error reason",
        "nothing unless job.reconciled does not follow within minutes",
    ),
    "job.reconciled": _e(
        "info",
        "an unknown submission was found (or proven absent) by its reference",
        "job_id reference found action transaction_ids",
        NOTHING,
    ),
    "job.deferred": _e(
        "info",
        "the job waits until a later time (limits, a pause, a transient error)",
        f"{JOB} reason retry_in_s attempts until",
        "nothing, unless the same job is deferred for hours: read reason",
    ),
    "job.retried_on_purpose": _e(
        "info",
        "a document put back by `faxdropd retry` is sent despite the duplicate check",
        f"{JOB} receipt",
        NOTHING,
    ),
    "job.delivered": _e(
        "info",
        "the fax was delivered (or accepted, without tracking) and filed in sent/",
        f"{JOB} outcome status reason transaction_ids filed",
        NOTHING,
    ),
    "job.failed": _e(
        "warning",
        "the fax failed and the document was filed in failed/ with its receipt",
        f"{JOB} outcome status reason transaction_ids filed",
        "read reason (busy, no answer, wrong number); fix it and `faxdropd retry` the document",
    ),
    "job.rejected": _e(
        "warning",
        "the document was refused before sending and filed in failed/ with the reason",
        f"{JOB} outcome status reason transaction_ids filed",
        "read reason (type, pages, number, sidecar); fix the document or config and `faxdropd retry` it",
    ),
    "job.crashed": _e(
        "exception",
        "an unexpected error while processing a job; it is retried",
        f"{JOB} error",
        "a bug: report it with the traceback; the job is retried meanwhile",
    ),
    "job.filing_postponed": _e(
        "warning|error",
        "the document could not be filed yet (folder unavailable, disk)",
        "job_id folder reason",
        "bring the share back or free space (error: disk full or I/O error); filing retries by itself",
    ),
    "job.work_missing": _e(
        "warning",
        "the claimed file was removed by hand; nothing could be filed",
        "job_id file",
        "find out who removed the file from .faxdropd/; the job's outcome is in `faxdropd show`",
    ),
    "job.released": _e(
        "warning",
        "a claimed file the journal does not know was given back to its hot folder",
        "folder file reason",
        "nothing: it is sent as a new document (check it was not sent already)",
    ),
    "job.release_postponed": _e(
        "warning",
        "orphans in a folder that is unavailable stay until the next start",
        "folder reason",
        "bring the share back; the next start gives them back",
    ),
    "job.twin_cancelled": _e(
        "warning",
        "a late original of a resent fax was cancelled before it went out",
        "job_id reference transaction_id status",
        "nothing: the resend is the one that goes out",
    ),
    "job.sent_twice": _e(
        "error",
        "a late original of a resent fax went out: the fax was sent twice",
        "job_id reference transaction_id number reason",
        "tell the recipient the fax arrived twice",
    ),
    "job.adopted": _e(
        "warning",
        "a document from a dead peer's adopted area is journaled and settled by reference",
        f"{JOB} adopted_from",
        "find out why the peer host died; its documents are handled here",
    ),
    "job.adopted_away": _e(
        "warning",
        "another host adopted this job's work area: this host sends and files nothing",
        JOB,
        "nothing for the job; check why this host was taken for dead (peer_timeout, a hang)",
    ),
}
