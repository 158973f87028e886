"""The journal's tables and the Job record: schema SQL, job states, and mapping rows to and from Jobs.

journal.py owns the connection, the lock and the transactions; nothing here touches the database file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypedDict

from faxdropd import jsontext


def journal_path(state_dir: Path) -> Path:
    """The journal's database file: `status` and `explain` look for it before opening it read-only."""
    return state_dir / "journal.sqlite3"


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    folder TEXT NOT NULL,
    hot TEXT NOT NULL,
    name TEXT NOT NULL,
    work_path TEXT NOT NULL,
    sidecar_path TEXT,
    state TEXT NOT NULL,
    sha256 TEXT, size INTEGER, pages INTEGER, file_type TEXT,
    numbers TEXT NOT NULL DEFAULT '[]',
    options TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    transaction_ids TEXT NOT NULL DEFAULT '[]',
    delivery TEXT NOT NULL DEFAULT '{}',
    status INTEGER, outcome TEXT, reason TEXT,
    on_purpose INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL, updated_at REAL NOT NULL,
    submitted_at REAL, completed_at REAL,
    final_path TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_sha ON jobs(sha256);
CREATE INDEX IF NOT EXISTS jobs_submitted ON jobs(submitted_at);
CREATE INDEX IF NOT EXISTS jobs_state_age ON jobs(state, updated_at);
CREATE INDEX IF NOT EXISTS jobs_updated ON jobs(updated_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL, at REAL NOT NULL, from_state TEXT, to_state TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class State(StrEnum):
    CLAIMED = "claimed"
    UPLOADING = "uploading"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEFERRED = "deferred"
    UNKNOWN = "unknown"
    REJECTED = "rejected"
    # The work file was taken by a peer's `faxdropd adopt`: that host finishes the job; this one files nothing.
    ADOPTED = "adopted"


FINAL = frozenset({State.DELIVERED, State.FAILED, State.REJECTED, State.ADOPTED})
NOT_FINAL = tuple(s for s in State if s not in FINAL)
# A job in these states cannot have reached InterFAX: after an error it may simply be tried again.
UNSENT = frozenset({State.CLAIMED, State.UPLOADING, State.DEFERRED})
# The states a worker takes a job up in: newly claimed, or deferred and now due.
RUNNABLE = frozenset({State.CLAIMED, State.DEFERRED})


class Outcome(StrEnum):
    """How a job ended, as its receipt's `outcome` says; recorded before the document is filed."""

    DELIVERED = "delivered"
    ACCEPTED = "accepted"  # InterFAX took it and delivery tracking is off
    FAILED = "failed"
    REJECTED = "rejected"

    @property
    def state(self) -> State:
        """The final state the job reaches once its document is filed."""
        return _FINAL_STATE[self]

    @property
    def succeeded(self) -> bool:
        """Filed in sent/ rather than failed/."""
        return self in (Outcome.DELIVERED, Outcome.ACCEPTED)


_FINAL_STATE = {
    Outcome.DELIVERED: State.DELIVERED,
    Outcome.ACCEPTED: State.DELIVERED,
    Outcome.FAILED: State.FAILED,
    Outcome.REJECTED: State.REJECTED,
}


class DeliveryItem(TypedDict):
    """One transaction's status as last polled (tracker._item_facts); the receipt's `deliveries`."""

    transaction_id: int
    number: str
    status: int
    meaning: str
    pages_sent: int
    duration: int
    remote_csid: str
    trials: int
    cost: str
    completed_at: str | None


class LateOriginal(TypedDict, total=False):
    """A held request InterFAX processed after the resend, and what was done about it (late_originals.py)."""

    transaction_id: int
    number: str
    action: str
    status: int
    meaning: str
    sent_twice: bool


class FileSeen(TypedDict):
    """A claimed file's size and modification time when last looked at (jobs/settle.py)."""

    size: int
    mtime_ns: int


class Delivery(TypedDict, total=False):
    """The job's `delivery` column: bookkeeping beside the state, stored as JSON.

    A TypedDict rather than a class so the column reads and writes exactly as before: journals written by
    earlier versions load unchanged, and every key stays optional because most jobs carry only a few.
    """

    processing_starts: int  # pipeline: starts since the last clean end; quarantine after MAX_PROCESSING_STARTS
    items: dict[str, DeliveryItem]  # tracker: by transaction id
    result_code: int  # finish: InterFAX's result code of a permanent failure
    resent_after_absence: bool  # late_originals.WATCH
    own_parent: int  # late_originals.OWN
    late_originals: dict[str, LateOriginal]  # late_originals.TWINS, by transaction id
    claimed_as: FileSeen  # settle.py: the file as claimed (or last re-checked), to tell a writer still at work


# Jobs that count as "this content went to this number" for the duplicate window. UPLOADING and DEFERRED
# (a routed job held back or waiting to retry) are about to go: a second copy dropped meanwhile is the duplicate.
SENT_LIKE = (State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.UNKNOWN, State.DELIVERED, State.DEFERRED)
JSON_COLUMNS = ("numbers", "options", "transaction_ids", "delivery")


@dataclass
class Job:
    id: str
    reference: str
    folder: str
    hot: str
    name: str
    work_path: str
    sidecar_path: str | None
    state: State
    sha256: str | None = None
    size: int | None = None
    pages: int | None = None
    file_type: str | None = None
    numbers: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    next_attempt_at: float | None = None
    transaction_ids: list[int] = field(default_factory=list)
    delivery: Delivery = field(default_factory=lambda: Delivery())
    status: int | None = None
    outcome: Outcome | None = None
    reason: str | None = None
    on_purpose: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    submitted_at: float | None = None
    completed_at: float | None = None
    final_path: str | None = None
    owner: str | None = None  # the instance working it (jobs/leases.py)
    lease_until: float | None = None  # on the database's clock


def to_sql(value: Any) -> Any:
    """A file name that is not valid UTF-8 (lone surrogates from os.listdir) is stored as its raw bytes.

    sqlite3 encodes str strictly, so such a name would raise UnicodeEncodeError in the main loop: one badly
    named file would crash-loop the daemon. from_sql turns the BLOB back into the same str.
    """
    if isinstance(value, StrEnum):
        return str(value)  # the enum's value, whatever sqlite3 would make of a str subclass
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return os.fsencode(value)
    return value


def from_sql(value: Any) -> Any:
    return os.fsdecode(value) if isinstance(value, bytes) else value


# Most jobs carry no options and no transaction ids yet: the console decodes thousands of rows at a time.
_EMPTY_JSON: dict[str, Any] = {"[]": list, "{}": dict}
# By value, without the enum's call machinery (~1 µs a row each).
_STATES: dict[str, State] = {s.value: s for s in State}
_OUTCOMES: dict[str, Outcome] = {o.value: o for o in Outcome}


def row_to_job(row: Any) -> Job:
    """A Job from a whole `jobs` row (``SELECT *``). `queue --json` decodes 4,000 open jobs at 100,000 in
    the journal: the row's values go straight into the record's ``__dict__``, because the dataclass's
    ``__init__`` (29 keywords, three default factories) cost half of the decoding. A row of a journal an older
    release left unmigrated (a console may read it before the daemon's restart migrates it) lacks the newer
    columns; their defaults are class attributes of the dataclass, so the record still reads them. A new
    column must therefore have a plain default, not a factory. The JSON columns are decoded in C (jsontext)."""
    data = dict(zip(row.keys(), row, strict=True))
    if bytes in map(type, row):  # a name that is not UTF-8 (to_sql): rare, so looked for once per row
        for key, value in data.items():
            if type(value) is bytes:
                data[key] = os.fsdecode(value)
    for key in JSON_COLUMNS:
        text = data[key]
        empty = _EMPTY_JSON.get(text)
        data[key] = empty() if empty is not None else jsontext.loads(text)
    data["state"] = _STATES[data["state"]]
    if data["outcome"] is not None:
        data["outcome"] = _OUTCOMES[data["outcome"]]
    job = Job.__new__(Job)
    job.__dict__.update(data)
    return job


def put_meta(db: Any, key: str, value: str | None) -> None:
    """One `meta` value (None deletes it), inside a journal write: with whatever else that write commits."""
    if value is None:
        db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
