"""Upload sessions and SendfaxEx_2 for the InterFAX emulator: validating a submission in InterFAX's order of
checks, splitting it into documents, and the records (faxes, stored files, ledger entry) it leaves behind."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from faxdropd.emulator.faxes import Fax, canonical_number, simulated_status

MAX_CHUNK = 3 * 1024 * 1024
MAX_TOTAL = 20 * 1024 * 1024
MAX_POSTPONE = timedelta(days=30)

OK = 0
NO_RECIPIENT, POSTPONE_TOO_LATE, NO_DOCUMENT = -112, -114, -123
TYPES_SIZES_MISMATCH, MISSING_TYPE, BAD_SIZE, SIZE_MISMATCH = -1002, -1004, -1007, -1008
MISSING_CHUNK, WRONG_SESSION, TOO_BIG = -1061, -1062, -1063

_PDF_PAGE = re.compile(rb"/Type\s*/Page\b")
_SESSION = re.compile(r"/sessionID=(.*)$", re.IGNORECASE)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Upload:
    session_id: str
    user: str
    data: bytearray = field(default_factory=bytearray)
    chunks: int = 0
    state: str = "open"  # open | used | cancelled

    def as_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "bytes": len(self.data),
            "chunks": self.chunks,
            "state": self.state,
        }


@dataclass
class SendRequest:
    """SendfaxEx_2's fields, already decoded from XML (Postpone as an aware UTC datetime)."""

    username: str
    password: str
    fax_numbers: str
    contacts: str
    files_data: bytes | None
    file_types: str
    file_sizes: str
    postpone: datetime
    retries: int
    csid: str
    page_header: str
    job_id: str
    subject: str
    reply_address: str
    page_size: str
    page_orientation: str
    high_resolution: bool
    fine_rendering: bool


@dataclass
class Submission:
    """A request that passed every check: what InterFAX would queue."""

    numbers: list[str]
    types: list[str]
    sizes: list[int]
    data: bytes
    documents: list[bytes]
    session_id: str | None


def count_pages(document: bytes, file_type: str) -> int:
    """A regex count of PDF page objects is close enough for billing-like numbers; other types count as 1."""
    if file_type.strip().upper().startswith("PDF"):
        return max(1, len(_PDF_PAGE.findall(document)))
    return 1


def validate(req: SendRequest, uploads: Mapping[str, Upload], now: datetime) -> Submission | int:
    """The submission, or the negative result code InterFAX would give it (credentials already checked)."""
    numbers = [n.strip() for n in req.fax_numbers.split(";") if n.strip()]
    if not numbers or any(not any(c.isdigit() for c in n) for n in numbers):
        return NO_RECIPIENT
    match = _SESSION.search(req.file_sizes)
    sizes_text = req.file_sizes[: match.start()] if match else req.file_sizes
    upload: Upload | None = None
    if match:
        upload = uploads.get(match.group(1).strip())
        # Another user's session is as unknown to this user as a made-up one.
        if upload is None or upload.state != "open" or upload.user != req.username:
            return WRONG_SESSION
    data = bytes(upload.data) if upload else (req.files_data or b"")
    if not data:
        return NO_DOCUMENT
    types = req.file_types.split(";")
    if any(not t.strip() for t in types):
        return MISSING_TYPE
    try:
        sizes = [int(s) for s in sizes_text.split(";")]
    except ValueError:
        return BAD_SIZE
    if any(s <= 0 for s in sizes):
        return BAD_SIZE
    if len(types) != len(sizes):
        return TYPES_SIZES_MISMATCH
    if sum(sizes) != len(data):
        return SIZE_MISMATCH
    if len(data) > MAX_TOTAL:
        return TOO_BIG
    if req.postpone > now + MAX_POSTPONE:
        return POSTPONE_TOO_LATE
    documents, offset = [], 0
    for size in sizes:
        documents.append(data[offset : offset + size])
        offset += size
    return Submission(numbers, types, sizes, data, documents, upload.session_id if upload else None)


def make_faxes(req: SendRequest, sub: Submission, ids: list[int], now: datetime, delay: float) -> list[Fax]:
    """One transaction per number, all with the first one's id as parent, as InterFAX does for a broadcast."""
    contacts = req.contacts.split(";") if req.contacts else []
    pages = sum(count_pages(doc, kind) for doc, kind in zip(sub.documents, sub.types, strict=True))
    faxes = []
    for index, (tid, number) in enumerate(zip(ids, sub.numbers, strict=True)):
        destination = canonical_number(number)
        faxes.append(
            Fax(
                transaction_id=tid, parent_id=ids[0], user=req.username, number=number,
                destination=destination, contact=contacts[index].strip() if index < len(contacts) else "",
                subject=req.subject, job_id=req.job_id, reply_address=req.reply_address, csid=req.csid,
                page_header=req.page_header, page_size=req.page_size, orientation=req.page_orientation,
                high_resolution=req.high_resolution, fine_rendering=req.fine_rendering, retries=req.retries,
                pages=pages, batch_size=len(ids), submitted=now,
                postponed=req.postpone if req.postpone > now else None, delay=delay,
                final_status=simulated_status(destination),
            )
        )  # fmt: skip
    return faxes


def store_documents(store: Path, ids: list[int], sub: Submission) -> None:
    """store/<transaction id>/<n>.<type>: the raw bytes of each document, as received."""
    first = store / str(ids[0])
    first.mkdir(parents=True, exist_ok=True)
    names = [f"{i + 1}.{kind.strip().lower() or 'bin'}" for i, kind in enumerate(sub.types)]
    for name, doc in zip(names, sub.documents, strict=True):
        (first / name).write_bytes(doc)
    # Broadcast members share the parent's bytes: hard links keep a 20 MB x 100-number batch at 20 MB.
    for tid in ids[1:]:
        folder = store / str(tid)
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            try:
                (folder / name).hardlink_to(first / name)
            except OSError:
                (folder / name).write_bytes((first / name).read_bytes())


def ledger_entry(req: SendRequest, sub: Submission, ids: list[int], now: datetime) -> dict[str, Any]:
    """What the test suite asserts on; deliberately without Username/Password."""
    return {
        "transaction_ids": ids,
        "parent_id": ids[0],
        "reference": req.subject,
        "job_id": req.job_id,
        "numbers": sub.numbers,
        "contacts": req.contacts.split(";") if req.contacts else [],
        "options": {
            "Postpone": iso(req.postpone),
            "RetriesToPerform": req.retries,
            "CSID": req.csid,
            "PageHeader": req.page_header,
            "ReplyAddress": req.reply_address,
            "PageSize": req.page_size,
            "PageOrientation": req.page_orientation,
            "IsHighResolution": req.high_resolution,
            "IsFineRendering": req.fine_rendering,
        },
        "file_types": sub.types,
        "file_sizes": sub.sizes,
        "session_id": sub.session_id,
        "sha256": hashlib.sha256(sub.data).hexdigest(),
        "document_sha256": [hashlib.sha256(doc).hexdigest() for doc in sub.documents],
        "at": iso(now),
    }
