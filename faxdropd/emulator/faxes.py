"""Fax records of the InterFAX emulator: status progression, FaxItemEx fields, FaxQuery verbs and
FaxQuery2 forms."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

COST_PER_UNIT = Decimal("0.06")
# InterFAX does not document the status of a fax cancelled by the user; the emulator's choice is a positive
# (final, failed) status so a client treats it like any other failure.
CANCELLED_STATUS = 3950
# ASMX serialises an unset .NET DateTime (MinValue) like this; the docs' "0000-00-00" is no xsd:dateTime.
UNSET_TIME = datetime(1, 1, 1)
_SIMULATOR = re.compile(r"9999999(\d+)")


class QueryError(ValueError):
    """Invalid Verb or VerbData: InterFAX answers -1030."""


def canonical_number(number: str) -> str:
    """InterFAX's output form `00<country><area><local>`. Without a `+`/`00`/`011` prefix the emulator assumes
    the number starts with its country code (the real service would apply the account's dialling settings)."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+"):
        return "00" + digits
    if digits.startswith("00"):
        return digits
    if digits.startswith("011"):
        return "00" + digits[3:]
    return "00" + digits


def simulated_status(destination: str) -> int:
    """The InterFAX simulator: a fax to +9999999<code> ends with status <code>; anything else is delivered."""
    match = _SIMULATOR.fullmatch(destination[2:])
    return int(match.group(1)) if match else 0


@dataclass
class Fax:
    transaction_id: int
    parent_id: int
    user: str
    number: str
    destination: str
    contact: str
    subject: str
    job_id: str
    reply_address: str
    csid: str
    page_header: str
    page_size: str
    orientation: str
    high_resolution: bool
    fine_rendering: bool
    retries: int
    pages: int
    batch_size: int
    submitted: datetime
    postponed: datetime | None
    delay: float
    final_status: int
    cancelled_at: datetime | None = None

    @property
    def starts(self) -> datetime:
        return max(self.submitted, self.postponed) if self.postponed else self.submitted

    def status(self, now: datetime) -> int:
        """-1 just after submission, -2 queued (also while postponed), -3 sending, final after `delay`."""
        if self.cancelled_at is not None:
            return CANCELLED_STATUS
        if (now - self.submitted).total_seconds() < self.delay / 6:
            return -1
        running = (now - self.starts).total_seconds()
        if running < self.delay / 3:
            return -2
        if running < self.delay:
            return -3
        return self.final_status

    def completed(self, now: datetime) -> datetime | None:
        if self.cancelled_at is not None:
            return self.cancelled_at
        done = self.starts + timedelta(seconds=self.delay)
        return done if now >= done else None

    def fields(self, now: datetime, *, ex2: bool) -> list[tuple[str, Any]]:
        """FaxItemEx (or FaxItemEx2) values in schema order, with numbers a real transmission gives."""
        status = self.status(now)
        delivered = status == 0
        failed = status > 0 and self.cancelled_at is None
        pages_sent = self.pages if delivered else 0
        trials = 1 if delivered or status == -3 else max(1, self.retries) if failed else 0
        items: list[tuple[str, Any]] = [
            ("ParentTransactionID", self.parent_id),
            ("TransactionID", self.transaction_id),
            ("SubmitTime", self.submitted),
            ("PostponeTime", self.postponed or self.submitted),
            ("CompletionTime", self.completed(now) or UNSET_TIME),
            ("UserID", self.user),
            ("Contact", self.contact),
            ("JobID", self.job_id),
            ("DestinationFax", self.destination),
            ("ReplyEmail", self.reply_address),
            ("RemoteCSID", ("+" + self.destination[2:])[:20] if delivered else ""),
            ("PagesSent", pages_sent),
            ("Status", status),
            ("Duration", 20 + 25 * self.pages if delivered else 35 * trials if failed else 0),
            ("Subject", self.subject),
            ("PagesSubmitted", self.pages),
            ("SenderCSID", self.csid),
            ("Priority", 0),
            ("Units", Decimal(pages_sent)),
            ("CostPerUnit", COST_PER_UNIT),
            ("PageSize", self.page_size or "A4"),
            ("PageOrientation", self.orientation or "Portrait"),
            ("PageResolution", "Fine" if self.high_resolution else "Standard"),
            ("RenderingQuality", "Fine" if self.fine_rendering else "Standard"),
            ("PageHeader", self.page_header),
            ("RetriesToPerform", self.retries),
            ("TrialsPerformed", trials),
        ]
        if ex2:
            items += [
                ("LocaleID", 1033),
                ("GMTBias", 0),
                ("RetriesInterval", 5),
                ("UserData", ""),
                ("DeleteAfterUsage", ""),
                ("Mode", "Regular"),
                ("NumOfTransactions", self.batch_size),
                ("MessageID", ""),
            ]
        return items


def _ints(data: str, count: int | None = None) -> list[int]:
    try:
        values = [int(part) for part in data.replace(" ", "").split(",") if part]
    except ValueError as exc:
        raise QueryError(f"not a transaction id list: {data!r}") from exc
    if not values or (count is not None and len(values) != count):
        raise QueryError(f"expected {count or 'some'} transaction ids, got {data!r}")
    return values


def query_verb(faxes: Iterable[Fax], verb: str, data: str, now: datetime, limit: int) -> list[Fax]:
    """FaxQuery. IN with more ids than the per-query cap is refused (-1030) rather than silently cut, so a
    client that forgot the 100-item limit finds out in tests instead of losing statuses in production."""
    verb = verb.strip().upper()
    compare: dict[str, Callable[[int, int], bool]] = {
        "EQ": lambda a, b: a == b,
        "GT": lambda a, b: a > b,
        "GE": lambda a, b: a >= b,
        "LT": lambda a, b: a < b,
        "LE": lambda a, b: a <= b,
    }
    keep: Callable[[Fax], bool]
    if verb == "IN":
        wanted = set(_ints(data))
        if len(wanted) > limit:
            raise QueryError(f"IN lists {len(wanted)} ids, at most {limit} are allowed")
        keep = lambda f: f.transaction_id in wanted  # noqa: E731
    elif verb in compare:
        (ref,) = _ints(data, 1)
        op = compare[verb]
        keep = lambda f: op(f.transaction_id, ref)  # noqa: E731
    elif verb == "BETWEEN":
        low, high = _ints(data, 2)
        if high <= low:
            raise QueryError("BETWEEN needs id1,id2 with id2 > id1")
        keep = lambda f: low <= f.transaction_id <= high  # noqa: E731
    elif verb == "PARENT":
        (parent,) = _ints(data, 1)
        keep = lambda f: f.parent_id == parent  # noqa: E731
    elif verb == "ACTIVE":
        keep = lambda f: f.status(now) < 0  # noqa: E731
    else:
        raise QueryError(f"unknown verb {verb!r}")
    return sorted((f for f in faxes if keep(f)), key=lambda f: f.transaction_id)[:limit]


@dataclass(frozen=True)
class Condition:
    verb: str
    data: str


@dataclass(frozen=True)
class QueryForm:
    conditions: dict[str, Condition]  # Subject, FaxNumber, UserID, ReplyAddress, TransactionID, ...
    date_from: datetime
    date_to: datetime


@dataclass(frozen=True)
class QueryControl:
    only_parents: bool
    num_of_results: int
    starting_record: int
    order_by: str
    ascending: bool
    return_items: bool
    return_stats: bool


_NUMERIC = {"TransactionID", "ParentTransactionID", "Status"}


def _value(fax: Fax, name: str, now: datetime) -> Any:
    if name == "Status":
        return fax.status(now)
    fields: dict[str, Any] = {
        "Subject": fax.subject,
        "FaxNumber": fax.destination,
        "UserID": fax.user,
        "ReplyAddress": fax.reply_address,
        "TransactionID": fax.transaction_id,
        "ParentTransactionID": fax.parent_id,
    }
    return fields[name]


def _matches(value: Any, cond: Condition, numeric: bool, name: str) -> bool:
    verb, data = cond.verb, cond.data
    if verb == "Equals" and data == "":
        return True  # InterFAX's "don't care" convention
    if verb in ("Missing", "Exists"):
        return (value in ("", None)) == (verb == "Missing")
    if verb == "Like":
        pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in data)
        return re.fullmatch(pattern, str(value), re.IGNORECASE | re.DOTALL) is not None

    def norm(text: str) -> Any:
        if numeric:
            try:
                return int(text.strip())
            except ValueError as exc:
                raise QueryError(f"{name}: {text!r} is not a number") from exc
        return canonical_number(text) if name == "FaxNumber" else text.casefold()

    # Stored destinations are already canonical; only the query side needs normalising.
    here = value if numeric or name == "FaxNumber" else str(value).casefold()
    if verb in ("IncludedIn", "Between"):
        parts = [norm(p) for p in data.split(",")]
        if verb == "IncludedIn":
            return here in parts
        if len(parts) != 2:
            raise QueryError(f"{name}: Between needs two values")
        return bool(parts[0] <= here <= parts[1])
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "Equals": lambda a, b: a == b,
        "NotEquals": lambda a, b: a != b,
        "GreaterThan": lambda a, b: a > b,
        "GreaterOrEqual": lambda a, b: a >= b,
        "LessThan": lambda a, b: a < b,
        "LessOrEqual": lambda a, b: a <= b,
    }
    return ops[verb](here, norm(data))


_ORDER: dict[str, Callable[[Fax, datetime], Any]] = {
    "TransactionID": lambda f, now: f.transaction_id,
    "SubmitTime": lambda f, now: f.submitted,
    "CompletionTime": lambda f, now: f.completed(now) or datetime.min.replace(tzinfo=UTC),
    "Status": lambda f, now: f.status(now),
    "DestinationFax": lambda f, now: f.destination,
    "Subject": lambda f, now: f.subject,
    "PagesSent": lambda f, now: f.pages if f.status(now) == 0 else 0,
    "UserID": lambda f, now: f.user,
    "ReplyEmail": lambda f, now: f.reply_address,
}


@dataclass
class Query2Result:
    items: list[Fax]
    stats: dict[int, int]
    total: int


def query_form(faxes: Iterable[Fax], form: QueryForm, control: QueryControl, now: datetime, cap: int) -> Query2Result:
    """FaxQuery2: filter on every condition and the submission window, order, then page (at most `cap`)."""
    if control.starting_record < 0:
        raise QueryError("StartingRecord must not be negative")
    found = [
        f
        for f in faxes
        if form.date_from <= f.submitted <= form.date_to
        and (not control.only_parents or f.parent_id == f.transaction_id)
        and all(_matches(_value(f, n, now), c, n in _NUMERIC, n) for n, c in form.conditions.items())
    ]
    found.sort(key=lambda f: _ORDER[control.order_by](f, now), reverse=not control.ascending)
    stats: dict[int, int] = {}
    for fax in found:
        stats[fax.status(now)] = stats.get(fax.status(now), 0) + 1
    size = min(control.num_of_results, cap) if control.num_of_results > 0 else cap
    page = found[control.starting_record : control.starting_record + size]
    return Query2Result(items=page if control.return_items else [], stats=stats, total=len(found))
