"""What each page shows, as plain data: the templates render it, and the dashboard's JSON is the same data,
so the live update and the first render can never drift apart."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from faxdropd.config import Config, parse_duration
from faxdropd.files.names import receipt_path
from faxdropd.jobs.schema import Job, State
from faxdropd.web.reads import FAILED, IN_FLIGHT, WAITING, JournalView, Row, Search

DAY = 86400.0
# Every state in words and with a symbol: states must be told apart without colour.
STATE_LABELS = {
    str(State.CLAIMED): ("…", "waiting"),
    str(State.DEFERRED): ("…", "waiting to retry"),
    str(State.UPLOADING): ("↑", "sending"),
    str(State.SUBMITTING): ("↑", "sending"),
    str(State.SUBMITTED): ("↻", "sent, awaiting delivery"),
    str(State.UNKNOWN): ("?", "checking with InterFAX"),
    str(State.DELIVERED): ("✓", "delivered"),
    str(State.FAILED): ("✗", "failed"),
    str(State.REJECTED): ("⊘", "rejected"),
}
STATE_GROUP = {
    **{str(s): "waiting" for s in WAITING},
    **{str(s): "busy" for s in IN_FLIGHT},
    **{str(s): "bad" for s in FAILED},
    str(State.DELIVERED): "good",
}


def ago(then: float | None, now: float) -> str:
    if not then:
        return ""
    seconds = max(0, int(now - then))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < DAY:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"
    return f"{seconds // 86400} d ago"


def clock(at: float | None) -> str:
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else ""


def _iso_clock(text: str | None) -> str:
    """InterFAX's completion time (ISO 8601, UTC) in the daemon's local time, like every other time shown."""
    if not text:
        return ""
    try:
        return clock(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return text


def state_view(state: str) -> dict[str, str]:
    icon, label = STATE_LABELS.get(state, ("·", state))
    return {"state": state, "icon": icon, "label": label, "group": STATE_GROUP.get(state, "busy")}


def row_view(r: Row, now: float) -> dict[str, Any]:
    return {
        "id": r.id,
        "href": f"/jobs/{r.id}",
        "name": r.name,
        "folder": r.folder,
        "numbers": ", ".join(r.numbers),
        "age": ago(r.updated_at, now),
        "reason": r.reason or "",
        **state_view(r.state),
    }


def sending(view: JournalView, now: float) -> dict[str, Any]:
    until_text = view.meta("paused_until")
    until = float(until_text) if until_text else 0.0
    if until > now:
        reason = view.meta("paused_reason") or "no reason recorded"
        return {"ok": False, "text": f"PAUSED: {reason}", "until": f"until {clock(until)}"}
    return {"ok": True, "text": "Sending OK", "until": ""}


def dashboard(cfg: Config, view: JournalView, folder_up: Callable[[], dict[str, bool]]) -> dict[str, Any]:
    now = time.time()
    midnight = datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    counts = view.folder_counts(midnight.timestamp())
    up = folder_up()
    folders = []
    for f in cfg.folders:
        c = counts.get(f.name, {"waiting": 0, "in_flight": 0, "failed": 0})
        is_up = up.get(f.name, True)
        folders.append({"name": f.name, "up": is_up, "status": "▲ up" if is_up else "▼ DOWN", **c})
    return {
        "sending": sending(view, now),
        "folders": folders,
        "recent": [row_view(r, now) for r in view.recent()],
        "failures": [row_view(r, now) for r in view.failures(now - DAY)],
        "updated": clock(now),
    }


def parse_search(query: dict[str, str], cfg: Config) -> tuple[Search, str]:
    """The search form's values, and a sentence when one of them could not be read (it is then ignored)."""
    problem = ""
    since: float | None = None
    text = query.get("since", "").strip()
    if text:
        try:
            since = datetime.fromisoformat(text).astimezone().timestamp()
        except ValueError:
            try:
                since = time.time() - parse_duration(text)
            except ValueError:
                problem = f"'since' must be a date (2026-12-04) or a duration (24h); ignored {text!r}"
    try:
        page = max(1, min(10_000, int(query.get("page", "1") or 1)))
    except ValueError:
        page = 1
    state = query.get("state", "")
    folder = query.get("folder", "")
    return Search(
        q=query.get("q", "")[:200],
        folder=folder if folder in {f.name for f in cfg.folders} else "",
        state=state if state in STATE_LABELS else "",
        since=since,
        page=page,
    ), problem


def receipt_of(job: Job) -> dict[str, Any] | None:
    if not job.final_path:
        return None
    try:
        data = json.loads(receipt_path(Path(job.final_path)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def job_detail(job: Job, events: list[dict[str, Any]]) -> dict[str, Any]:
    now = time.time()
    timeline = [
        {
            "at": clock(e["at"]),
            "ago": ago(e["at"], now),
            "from": e["from_state"] or "",
            "note": e["detail"] or "",
            **state_view(e["to_state"]),
        }
        for e in events
    ]
    items = job.delivery.get("items", {})
    deliveries = [
        {
            "transaction_id": item.get("transaction_id", tid),
            "number": item.get("number", ""),
            "status": item.get("status", ""),
            "meaning": item.get("meaning", ""),
            "pages": item.get("pages_sent", ""),
            "cost": item.get("cost", ""),
            "csid": item.get("remote_csid", ""),
            "completed": _iso_clock(item.get("completed_at")),
        }
        for tid, item in sorted(items.items())
    ]
    return {
        "job": job,
        "state": state_view(str(job.state)),
        "numbers": job.numbers,
        "timeline": timeline,
        "deliveries": deliveries,
        "transaction_ids": job.transaction_ids,
        "created": clock(job.created_at),
        "completed": clock(job.completed_at),
        "has_receipt": receipt_of(job) is not None,
    }
