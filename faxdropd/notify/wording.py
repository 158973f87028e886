"""What a notification says, in words a person at the front desk understands at a glance."""

from __future__ import annotations

from typing import Any

import phonenumbers

_HEADLINE = {
    "delivered": "Fax delivered",
    "accepted": "Fax accepted",
    "failed": "Fax FAILED",
    "rejected": "Fax REJECTED",
    "test": "faxdropd test message",
    "paused": "Fax sending PAUSED",
    "resumed": "Fax sending resumed",
    "folder_down": "Fax folder DOWN",
    "folder_up": "Fax folder back",
}
_STATE_EVENTS = ("paused", "resumed", "folder_down", "folder_up")
_STATE_NEXT = {
    "paused": "Nothing is sent until this is fixed; documents wait in their folders. See `faxdropd status`.",
    "folder_down": "Documents dropped there are not seen until the folder is reachable again (a share unmounted?).",
}


def readable_number(e164: str) -> str:
    """+12125550100 → +1 212-555-0100 style (phonenumbers' international format), or as given."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(e164, None), phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ).replace("-", " ")
    except phonenumbers.NumberParseException:
        return e164


def _numbers(receipt: dict[str, Any]) -> str:
    return ", ".join(readable_number(n) for n in receipt.get("to") or []) or "no number"


def subject(receipt: dict[str, Any]) -> str:
    event = str(receipt.get("event", ""))
    head = _HEADLINE.get(event, f"Fax {event}")
    if event in _STATE_EVENTS:
        detail = receipt.get("folder") if event.startswith("folder") else receipt.get("reason")
        return " ".join(f"{head}: {detail}".split())[:200] if detail else head
    line = f"{head}: {receipt.get('file', '?')}"
    if receipt.get("to"):
        line += f" to {_numbers(receipt)}"
    if event in ("failed", "rejected") and receipt.get("reason"):
        line += f" — {receipt['reason']}"
    elif event == "delivered" and receipt.get("pages"):
        line += f" — {receipt['pages']} page{'s' if receipt['pages'] != 1 else ''}"
    # One line: a reason that quotes a file name must not break the header.
    return " ".join(line.split())[:200]


def _next_step(receipt: dict[str, Any], filed: str | None) -> list[str]:
    event = receipt.get("event")
    if event == "failed":
        where = filed or f"the failed/ folder of {receipt.get('folder')}"
        return [
            "What to do next:",
            f"  Send it again with:  faxdropd retry '{where}'",
            "  or drop the document into the hot folder again.",
        ]
    if event == "rejected":
        return [
            "What to do next:",
            "  The document was not sent. Fix what the reason says (the number, the file, its sidecar)",
            "  and drop it into the hot folder again.",
        ]
    return []


def body(receipt: dict[str, Any], filed: str | None = None) -> str:
    """The plain-text body of one event's mail."""
    lines = [subject(receipt), ""]
    if receipt.get("event") in _STATE_EVENTS:
        facts = [("Folder", receipt.get("folder")), ("Reason", receipt.get("reason")), ("At", receipt.get("at"))]
        lines += [f"{label + ':':17}{value}" for label, value in facts if value]
        advice = _STATE_NEXT.get(str(receipt.get("event")))
        return "\n".join([*lines, *(["", advice] if advice else [])]) + "\n"
    facts = [
        ("Document", receipt.get("file")),
        ("Folder", receipt.get("folder")),
        ("To", _numbers(receipt)),
        ("Outcome", receipt.get("outcome")),
        ("Reason", receipt.get("reason")),
        ("InterFAX status", receipt.get("status")),
        ("Pages", receipt.get("pages")),
        ("Pages sent", receipt.get("pages_sent")),
        ("Attempts", receipt.get("attempts")),
        ("Submitted", receipt.get("submitted_at")),
        ("Completed", receipt.get("completed_at")),
        ("Transaction ids", ", ".join(str(t) for t in receipt.get("transaction_ids") or []) or None),
        ("Reference", receipt.get("reference")),
        ("Job", receipt.get("job_id")),
        ("Filed as", filed),
    ]
    lines += [f"{label + ':':17}{value}" for label, value in facts if value not in (None, "")]
    step = _next_step(receipt, filed)
    if step:
        lines += ["", *step]
    return "\n".join(lines) + "\n"


def digest_subject(receipts: list[dict[str, Any]], folder: str) -> str:
    bad = sum(1 for r in receipts if r.get("event") in ("failed", "rejected"))
    count = f"{len(receipts)} fax event{'s' if len(receipts) != 1 else ''}"
    return f"Fax digest for {folder}: {count}" + (f", {bad} FAILED or REJECTED" if bad else "")


def digest_body(receipts: list[dict[str, Any]], folder: str) -> str:
    parts = [digest_subject(receipts, folder), ""]
    parts += [f"- {subject(r)}" for r in receipts]
    for r in receipts:
        parts += ["", "-" * 60, body(r).rstrip("\n")]
    return "\n".join(parts) + "\n"
