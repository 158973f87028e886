"""The sender: a thread of its own that delivers the journal's outbox, so notifications never hold up a fax.

Each pass takes the due rows, delivers them (a folder's digest rows of one period as one mail) and records the
result with a short journal write of its own. A failure is retried with jittered exponential back-off until
`notify.retry_for` has passed since the row was written, then given up with an error log and a metric: never
dropped silently. A crash between a delivery and its record means the row is sent again, with the same id.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
import structlog

from faxdropd.config import Config
from faxdropd.jobs.journal import FINAL, Journal
from faxdropd.jobs.outbox import EMAIL, GIVEN_UP, RETRIED, SENT_RESULT, Notice
from faxdropd.notify import email, webhook, wording
from faxdropd.notify.errors import DeliveryFailed

log = structlog.get_logger("faxdropd.notify")

POLL = 1.0  # seconds between looks at the outbox when nothing is due
FILING_WAIT = 30.0  # how long a mail waits for its document to be filed, so it can say where it went
BATCH = 500
STOP_GRACE = 5.0  # seconds a delivery under way gets at shutdown
KEEP_SETTLED = 30 * 86400.0  # sent and given-up rows stay this long for `status` and investigations


def backoff(attempts: int, initial: float, cap: float, rng: Callable[[], float] = random.random) -> float:
    """Exponential back-off with jitter: between half and all of min(cap, initial·2^attempts)."""
    ceiling: float = min(cap, initial * 2.0 ** min(attempts, 30))
    return ceiling * (0.5 + 0.5 * float(rng()))


class Sender:
    def __init__(self, journal: Journal, config: Callable[[], Config], metrics: Any) -> None:
        self.journal = journal
        self.config = config
        self.metrics = metrics
        self.session = requests.Session()
        self._pruned = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, args=(self._stop,), name="notify", daemon=True)
        self._thread.start()

    def stop(self, grace: float = STOP_GRACE) -> None:
        """Stop after the delivery under way (a mail server timing out is abandoned after `grace`: the row
        stays pending and is sent at the next start, with the same id)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(grace)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.pass_once()
            except Exception as exc:  # a bug here must not end the thread: mail would stop for good
                log.exception("notify.sender_error", error=f"{type(exc).__name__}: {exc}")
            stop.wait(POLL)

    def pass_once(self, now: float | None = None) -> int:
        """Deliver what is due; returns how many rows were settled (sent or given up) or rescheduled."""
        now = time.time() if now is None else now
        if now - self._pruned > 3600:
            self._pruned = now
            self.journal.outbox_prune(now - KEEP_SETTLED)
        handled = 0
        for group in self._groups(self.journal.outbox_due(now, BATCH), now):
            self._deliver(group, now)
            handled += len(group)
        return handled

    def _groups(self, due: list[Notice], now: float) -> list[list[Notice]]:
        singles: list[list[Notice]] = []
        digests: dict[tuple[str, tuple[str, ...], float], list[Notice]] = {}
        for n in due:
            if n.digest:
                digests.setdefault((n.folder, tuple(n.target), n.next_at), []).append(n)
            elif n.channel == EMAIL and self._unfiled(n, now):
                continue  # picked up on a later pass, once the document has its final place
            else:
                singles.append([n])
        return singles + list(digests.values())

    def _unfiled(self, n: Notice, now: float) -> bool:
        if n.job_id is None or n.attempts or now - n.created_at > FILING_WAIT:
            return False
        job = self.journal.get(n.job_id)
        return job is not None and job.state not in FINAL

    def _filed(self, n: Notice) -> str | None:
        job = self.journal.get(n.job_id) if n.job_id else None
        return job.final_path if job is not None else None

    def _deliver(self, group: list[Notice], now: float) -> None:
        first = min(group, key=lambda n: n.id)
        ids = [n.id for n in group]
        cfg = self.config()
        try:
            if first.channel == EMAIL:
                refused = self._mail(cfg, group, first)
                if refused:
                    log.warning("notify.recipients_refused", notification_id=first.id, refused=refused)
            else:
                webhook.post(
                    first.target[0], first.id, first.payload, cfg.notify.webhook_secret.get_secret_value(), self.session
                )
        except DeliveryFailed as exc:
            self._failed(group, first, ids, exc, now, cfg)
            return
        self.journal.outbox_sent(ids)
        self.metrics.notification(first.channel, SENT_RESULT)
        log.info(
            "notify.sent",
            notification_id=first.id,
            channel=first.channel,
            notify_event=first.event if len(group) == 1 else "digest",
            events=len(group),
            job_id=first.job_id,
            attempts=first.attempts + 1,
        )

    def _mail(self, cfg: Config, group: list[Notice], first: Notice) -> list[str]:
        smtp = cfg.notify.smtp
        if smtp is None:
            raise DeliveryFailed("notify.smtp is no longer configured", permanent=True)
        if first.digest:
            receipts = [n.payload for n in sorted(group, key=lambda n: (n.created_at, n.id))]
            subject = wording.digest_subject(receipts, first.folder)
            msg = email.build(smtp, first.id, first.target, subject, wording.digest_body(receipts, first.folder))
        else:
            filed = self._filed(first)
            files = email.attachments(first.payload, str(first.payload.get("attach", "none")), filed)
            text = wording.body(first.payload, filed)
            msg = email.build(smtp, first.id, first.target, wording.subject(first.payload), text, files)
        return email.send(smtp, msg)

    def _failed(
        self, group: list[Notice], first: Notice, ids: list[str], exc: DeliveryFailed, now: float, cfg: Config
    ) -> None:
        rules = cfg.notify
        oldest = min(n.created_at for n in group)
        if exc.permanent or now - oldest >= rules.retry_for:
            self.journal.outbox_give_up(ids, str(exc))
            self.metrics.notification(first.channel, GIVEN_UP)
            log.error(
                "notify.gave_up",
                notification_id=first.id,
                channel=first.channel,
                notify_event=first.event,
                job_id=first.job_id,
                attempts=first.attempts + 1,
                error=str(exc),
                reason="permanent failure" if exc.permanent else f"still failing after {round(now - oldest)} s",
            )
            return
        delay = backoff(first.attempts, rules.retry_initial, rules.retry_cap)
        if exc.retry_after is not None:
            # The receiver said when (429/503 Retry-After): not sooner, and never later than the cap.
            delay = min(max(delay, exc.retry_after), rules.retry_cap)
        self.journal.outbox_retry(ids, now + delay, str(exc))
        self.metrics.notification(first.channel, RETRIED)
        log.warning(
            "notify.retry",
            notification_id=first.id,
            channel=first.channel,
            job_id=first.job_id,
            attempts=first.attempts + 1,
            retry_in_s=round(delay, 1),
            error=str(exc),
        )
