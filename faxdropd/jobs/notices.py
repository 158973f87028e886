"""Which notifications an outcome causes, decided from the config at the moment the outcome is recorded.

The folder's `notify:` keys over the global block's say which events are wanted and by whom; a sidecar's
`notify:` adds recipients for its own document (routing has already refused any outside allow_domains, and
they are filtered again here so a config change in between cannot widen the list).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from faxdropd.config import Config
from faxdropd.config.notify import allowed, effective
from faxdropd.document import routing
from faxdropd.errors import Rejected
from faxdropd.jobs.outbox import EMAIL, WEBHOOK, Notice

log = structlog.get_logger("faxdropd.jobs.notices")


def sidecar_recipients(sidecar_path: str | None, domains: list[str]) -> list[str]:
    """The sidecar's own `notify:` addresses within `domains`; a sidecar that cannot be read adds nobody."""
    if not sidecar_path or not domains:
        return []
    try:
        loaded = routing.load_sidecar(Path(sidecar_path))
    except (Rejected, OSError):
        return []
    found = routing.sidecar_notify(loaded)
    return [a for a in found if allowed(a, domains)] if isinstance(found, list) else []


def digest_due(now: float, period: float) -> float:
    """The end of the digest period `now` falls in: every event of a period is mailed together then."""
    return (math.floor(now / period) + 1) * period


def wanted(cfg: Config, folder_name: str, event: str) -> bool:
    """Whether `event` in this folder notifies anyone: when not, the finisher builds no receipt for it."""
    folder = next((f for f in cfg.folders if f.name == folder_name), None)
    rules = effective(cfg.notify, folder.notify if folder is not None else None)
    return event in rules.on and bool(rules.webhooks or (cfg.notify.smtp is not None))


def plan(
    cfg: Config,
    folder_name: str,
    event: str,
    payload: dict[str, Any],
    *,
    job_id: str | None,
    sidecar: Sequence[str] = (),
) -> list[Notice]:
    base = cfg.notify
    folder = next((f for f in cfg.folders if f.name == folder_name), None)
    rules = effective(base, folder.notify if folder is not None else None)
    notices: list[Notice] = []
    if event not in rules.on:
        return notices
    body = {**payload, "event": event, "attach": rules.attach}
    if rules.email and base.smtp is not None:
        digest = rules.digest > 0
        notices.append(
            Notice(
                event=event,
                channel=EMAIL,
                target=list(rules.email),
                payload=body,
                folder=folder_name,
                job_id=job_id,
                digest=digest,
                next_at=digest_due(time.time(), rules.digest) if digest else 0.0,
            )
        )
    extra = [a for a in dict.fromkeys(sidecar) if a not in rules.email]
    if extra and base.smtp is not None:
        # The person who asked in the sidecar hears of their own document at once, never in a digest.
        notices.append(
            Notice(event=event, channel=EMAIL, target=extra, payload=body, folder=folder_name, job_id=job_id)
        )
    for url in rules.webhooks:
        notices.append(
            Notice(event=event, channel=WEBHOOK, target=[url], payload=body, folder=folder_name, job_id=job_id)
        )
    return notices


def state_event(cfg: Config, event: str, folder: str = "", reason: str = "") -> list[Notice]:
    """An account or folder event (paused, resumed, folder_down, folder_up): no job and no receipt; a folder's
    own `notify:` rules decide for its folder events, the global block's for the account."""
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    payload = {"folder": folder or None, "file": None, "reason": reason or None, "at": at}
    return plan(cfg, folder, event, payload, job_id=None)
