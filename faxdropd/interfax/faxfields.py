"""Fax options → the keyword fields of SendfaxEx_2 (all but credentials and document data).

The job's reference rides in `Subject` (searchable with FaxQuery2) and in `JobID`; it is what lets an
unknown submission be reconciled instead of resent, so it is never truncated: the template part is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePath
from typing import Protocol

from faxdropd.config.fields import CSID_MAX
from faxdropd.config.window import SendWindowLike, next_window_opening

SUBJECT_MAX = 60  # InterFAX: Subject up to 60 characters
POSTPONE_MAX = timedelta(days=30)  # InterFAX: -114 beyond 30 days
# "Any date in the past" means ASAP; this is the value InterFAX's own samples use.
ASAP = datetime(2001, 12, 31, tzinfo=UTC)

_PLACEHOLDER = re.compile(r"\{(name|stem|folder|date)\}")
_REFERENCE = re.compile(r"[^\[\]\s]+")
_TRAILING_REFERENCE = re.compile(r"(?:^| )\[([^\[\]\s]+)\]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FaxOptionsLike(Protocol):
    """The attributes of config.FaxOptions this module reads."""

    @property
    def csid(self) -> str: ...
    @property
    def page_header(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def contact(self) -> str: ...
    @property
    def reply_address(self) -> str: ...
    @property
    def page_size(self) -> str: ...
    @property
    def orientation(self) -> str: ...
    @property
    def resolution(self) -> str: ...
    @property
    def rendering(self) -> str: ...
    @property
    def retries(self) -> int: ...
    @property
    def cover_page(self) -> Path | None: ...
    @property
    def send_window(self) -> SendWindowLike | None: ...


def expand_template(template: str, *, document_name: str, folder_name: str, now: datetime) -> str:
    """Expand {name} {stem} {folder} {date}; any other brace text stays literal, so this never raises."""
    # A name that is not valid UTF-8 arrives with lone surrogates, which the SOAP request cannot encode
    # (the job looped through retries for ever): show the bad bytes as U+FFFD instead.
    document_name = document_name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    values = {
        "name": document_name,
        "stem": PurePath(document_name).stem if document_name else "",
        "folder": folder_name,
        "date": now.strftime("%Y-%m-%d"),
    }
    expanded = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    # File names may carry control characters; they have no business in a fax header or a search field.
    return _CONTROL.sub(" ", expanded)


def make_subject(template: str, *, document_name: str, folder_name: str, reference: str, now: datetime) -> str:
    """The template, then " [<reference>]", kept within 60 characters by cutting the template part only."""
    if not _REFERENCE.fullmatch(reference):
        raise ValueError(f"reference {reference!r} must be non-empty without spaces or brackets")
    tail = f"[{reference}]"
    if len(tail) > SUBJECT_MAX:
        raise ValueError(f"reference {reference!r} cannot fit in a {SUBJECT_MAX}-character Subject")
    head = expand_template(template, document_name=document_name, folder_name=folder_name, now=now).strip()
    room = SUBJECT_MAX - len(tail) - 1  # one space between head and reference
    head = head[: max(room, 0)].rstrip()
    return f"{head} {tail}" if head else tail


def subject_reference(subject: str) -> str | None:
    """The reference make_subject appended, or None when the subject carries none."""
    match = _TRAILING_REFERENCE.search(subject)
    return match.group(1) if match else None


def postpone_for(window: SendWindowLike | None, now: datetime) -> datetime:
    """ASAP, or the next opening of the send window when `now` is outside it (UTC, ≤ 30 days ahead)."""
    if window is None:
        return ASAP
    opening = next_window_opening(window, now)
    if opening is None:
        return ASAP
    if opening - now > POSTPONE_MAX:  # cannot happen for a weekly window; guard InterFAX's -114 anyway
        raise ValueError(f"send window opens {opening.isoformat()}, more than 30 days ahead")
    return opening.astimezone(UTC)


def sendfax_fields(
    options: FaxOptionsLike,
    *,
    numbers: Sequence[str],
    document_name: str,
    folder_name: str,
    reference: str,
    now: datetime,
) -> dict[str, object]:
    """Every SendfaxEx_2 keyword field except Username/Password and FilesData/FileTypes/FileSizes."""
    if not numbers:
        raise ValueError("a fax needs at least one destination number")
    if len(options.csid) > CSID_MAX:
        raise ValueError(f"csid {options.csid!r} is longer than {CSID_MAX} characters")
    if any(";" in n for n in numbers):
        raise ValueError("numbers must not contain ';' (InterFAX's list separator)")
    # ";" separates contacts; one inside a name would shift every later contact onto the wrong number.
    contact = options.contact.replace(";", ",")
    return {
        "FaxNumbers": ";".join(numbers),
        # One contact per number, as InterFAX pairs them positionally; none configured → account default.
        "Contacts": ";".join([contact] * len(numbers)) if contact else "",
        "Postpone": postpone_for(options.send_window, now),
        "RetriesToPerform": int(options.retries),
        "CSID": options.csid,
        "PageHeader": options.page_header,
        "JobID": reference,
        "Subject": make_subject(
            options.subject, document_name=document_name, folder_name=folder_name, reference=reference, now=now
        ),
        "ReplyAddress": options.reply_address,
        "PageSize": options.page_size,
        "PageOrientation": "Landscape" if options.orientation.lower() == "landscape" else "Portrait",
        "IsHighResolution": options.resolution == "fine",
        "IsFineRendering": options.rendering == "fine",
    }
