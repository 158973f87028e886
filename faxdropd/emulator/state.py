"""The InterFAX emulator's state and operations: what dfs.asmx does with a call, minus the telephone network.

Plain Python in, plain Python out; SOAP framing is emulator_soap's, HTTP and faults emulator_http's. Every
operation runs under one lock, so concurrent workers see the ordering one InterFAX account would give them.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from faxdropd.emulator.faults import Fault, FaultBook
from faxdropd.emulator.faxes import Fax, QueryControl, QueryError, QueryForm, query_form, query_verb
from faxdropd.emulator.send import (
    MAX_CHUNK,
    MAX_TOTAL,
    MISSING_CHUNK,
    OK,
    TOO_BIG,
    WRONG_SESSION,
    SendRequest,
    Upload,
    iso,
    ledger_entry,
    make_faxes,
    store_documents,
    validate,
)

__all__ = ["Emulator", "Query2Answer", "SendRequest", "Upload"]

LOGIN_ATTEMPTS = 5
BLOCK_TIME = timedelta(hours=1)
# A demo emulator may run for days; the ledger keeps the newest calls only.
CALLS_KEPT = 10_000
NO_ITEMS_NOR_STATS, AUTH_FAILED, NO_SUCH_TRANSACTION = -710, -1003, -1005
TOO_MANY_REQUESTS, BAD_VERB, BLOCKED = -1011, -1030, -1876
_log = structlog.get_logger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Query2Answer:
    code: int
    items: list[list[tuple[str, Any]]]
    stats: dict[int, int] | None
    total: int


class Emulator:
    def __init__(
        self,
        *,
        username: str = "demo",
        password: str = "demo-password",  # noqa: S107 - the emulator's documented demo account
        store: Path | None = None,
        status_delay: float = 2.0,
        query_limit: int = 6,
        query_window: float = 60.0,
        max_items: int = 100,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.username, self._password = username, password
        self.store, self.status_delay, self.max_items = store, status_delay, max_items
        self.query_limit, self.query_window, self.clock = query_limit, query_window, clock
        self.lock = threading.RLock()
        # Set by the server at stop() so injected hangs end at once instead of holding threads for an hour.
        self.stopping = threading.Event()
        self.faults = FaultBook(self.lock)
        self._uploads: dict[str, Upload] = {}
        self._faxes: dict[int, Fax] = {}
        self._submissions: list[dict[str, Any]] = []
        self._calls: deque[dict[str, Any]] = deque(maxlen=CALLS_KEPT)
        self._failures: dict[str, int] = {}
        self._blocked_until: dict[str, datetime] = {}
        self._queries: dict[str, deque[datetime]] = {}
        self._serving: dict[str, int] = {}  # calls of each operation being answered now, and their peak
        self._peak: dict[str, int] = {}
        self._next_id = self._first_id()

    def _first_id(self) -> int:
        """Ids start from the clock so a restarted emulator never reuses an id a daemon's journal still
        tracks; they stay below 2**31 because FaxItemEx.TransactionID is an xsd:int."""
        start = 100_000_000 + (int(time.time()) % 100_000) * 10_000
        if self.store is not None and self.store.is_dir():
            taken = [int(p.name) for p in self.store.iterdir() if p.name.isdigit()]
            start = max([start, *(t + 1 for t in taken)])
        return start

    def reset(self) -> None:
        with self.lock:
            for table in (self._uploads, self._faxes, self._failures, self._blocked_until, self._queries):
                table.clear()
            self._submissions.clear()
            self._calls.clear()
            self._peak.clear()
            self.faults.clear()

    # --- python API for tests and the HTTP layer ---
    def add_fault(self, op: str = "*", kind: str = "error", **spec: Any) -> Fault:
        return self.faults.add({"op": op, "kind": kind, **spec})

    def clear_faults(self) -> None:
        self.faults.clear()

    def record_call(self, op: str, result: int | None, fault: str | None = None) -> None:
        with self.lock:
            self._calls.append({"op": op, "at": iso(self.clock()), "result": result, "fault": fault})

    @contextmanager
    def serving(self, op: str) -> Iterator[None]:
        """Around the answer to one call: counts how many calls of `op` were being answered at once, the proof of
        how many faxes a client sends in parallel."""
        with self.lock:
            now = self._serving[op] = self._serving.get(op, 0) + 1
            self._peak[op] = max(self._peak.get(op, 0), now)
        try:
            yield
        finally:
            with self.lock:
                self._serving[op] -= 1

    def ledger(self) -> dict[str, Any]:
        """A JSON-ready snapshot; the password is never part of it."""
        with self.lock:
            return {
                "uploads": [u.as_json() for u in self._uploads.values()],
                "submissions": [dict(s) for s in self._submissions],
                "calls": [dict(c) for c in self._calls],
                "peak_in_flight": dict(self._peak),
            }

    def status_of(self, transaction_id: int) -> int | None:
        with self.lock:
            fax = self._faxes.get(transaction_id)
            return None if fax is None else fax.status(self.clock())

    # --- account checks ---
    def _login(self, username: str, password: str) -> int:
        now = self.clock()
        until = self._blocked_until.get(username)
        if until is not None and now < until:
            return BLOCKED
        # compare_digest: the demo password should not be guessable by timing either.
        good = hmac.compare_digest(username.encode(), self.username.encode())
        good &= hmac.compare_digest(password.encode(), self._password.encode())
        if good:
            self._failures.pop(username, None)
            return OK
        failures = self._failures.get(username, 0) + 1
        self._failures[username] = failures
        if failures >= LOGIN_ATTEMPTS:
            self._blocked_until[username] = now + BLOCK_TIME
            self._failures.pop(username)
        return AUTH_FAILED

    def _admit_query(self, username: str) -> bool:
        """Sliding window per user. Refused calls are not counted, so a client that backs off recovers after
        `query_window` seconds however hard it hammered."""
        now = self.clock()
        window = self._queries.setdefault(username, deque())
        while window and (now - window[0]).total_seconds() >= self.query_window:
            window.popleft()
        if len(window) >= self.query_limit:
            return False
        window.append(now)
        return True

    # --- chunked upload ---
    def start_file_upload(self, username: str, password: str) -> tuple[int, str | None]:
        with self.lock:
            code = self._login(username, password)
            if code != OK:
                return code, None
            session = Upload(secrets.token_hex(12).upper(), username)
            self._uploads[session.session_id] = session
            return OK, session.session_id

    def upload_file_chunk(self, session_id: str, chunk: bytes | None, is_last: bool) -> int:
        with self.lock:
            session = self._uploads.get(session_id)
            if session is None or session.state != "open":
                return WRONG_SESSION
            if not chunk:
                return MISSING_CHUNK
            if len(chunk) > MAX_CHUNK or len(session.data) + len(chunk) > MAX_TOTAL:
                return TOO_BIG
            session.data += chunk
            session.chunks += 1
            return len(session.data)

    def cancel_file_upload(self, session_id: str) -> int:
        with self.lock:
            session = self._uploads.get(session_id)
            if session is None or session.state != "open":
                return WRONG_SESSION
            session.state = "cancelled"
            session.data = bytearray()  # the bytes are gone on the real service too
            return OK

    # --- sending ---
    def send_fax(self, req: SendRequest) -> int:
        with self.lock:
            code = self._login(req.username, req.password)
            if code != OK:
                return code
            now = self.clock()
            checked = validate(req, self._uploads, now)
            if isinstance(checked, int):
                return checked
            ids = list(range(self._next_id, self._next_id + len(checked.numbers)))
            self._next_id += len(ids)
            if self.store is not None:
                store_documents(self.store, ids, checked)
            upload = self._uploads.get(checked.session_id or "")
            if upload is not None:
                upload.state, upload.data = "used", bytearray()  # sessions are single-use
            for fax in make_faxes(req, checked, ids, now, self.status_delay):
                self._faxes[fax.transaction_id] = fax
            self._submissions.append(ledger_entry(req, checked, ids, now))
            return ids[0]

    # --- status and control ---
    def _mine(self, username: str) -> list[Fax]:
        return [f for f in self._faxes.values() if f.user == username]

    def fax_query(
        self, username: str, password: str, verb: str, verb_data: str, max_items: int
    ) -> tuple[int, list[list[tuple[str, Any]]]]:
        with self.lock:
            code = self._login(username, password)
            if code != OK:
                return code, []
            if not self._admit_query(username):
                return TOO_MANY_REQUESTS, []
            limit = min(max_items, self.max_items) if max_items > 0 else self.max_items
            now = self.clock()
            try:
                found = query_verb(self._mine(username), verb, verb_data, now, limit)
            except QueryError as exc:
                _log.info("emulator.query_refused", operation="FaxQuery", error=str(exc))
                return BAD_VERB, []
            return OK, [f.fields(now, ex2=False) for f in found]

    def fax_query2(self, username: str, password: str, form: QueryForm, control: QueryControl) -> Query2Answer:
        with self.lock:
            code = self._login(username, password)
            if code == OK and not self._admit_query(username):
                code = TOO_MANY_REQUESTS
            if code == OK and not (control.return_items or control.return_stats):
                code = NO_ITEMS_NOR_STATS
            if code != OK:
                return Query2Answer(code, [], None, 0)
            now = self.clock()
            try:
                found = query_form(self._mine(username), form, control, now, self.max_items)
            except QueryError as exc:
                _log.info("emulator.query_refused", operation="FaxQuery2", error=str(exc))
                return Query2Answer(BAD_VERB, [], None, 0)
            items = [f.fields(now, ex2=True) for f in found.items]
            return Query2Answer(OK, items, found.stats if control.return_stats else None, found.total)

    def cancel_fax(self, username: str, password: str, transaction_id: int) -> int:
        """A fax still in progress (status < 0; -3 also means "waiting for the next retry") can be cancelled.
        For a finished one the real code is undocumented; the emulator answers -1005 so a client never
        believes such a cancel worked."""
        with self.lock:
            code = self._login(username, password)
            if code != OK:
                return code
            fax = self._faxes.get(transaction_id)
            now = self.clock()
            if fax is None or fax.user != username or fax.status(now) >= 0:
                return NO_SUCH_TRANSACTION
            fax.cancelled_at = now
            return OK
