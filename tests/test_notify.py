"""The sender in-process, against a real SMTP server (aiosmtpd: STARTTLS, AUTH) and a real HTTP receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import structlog.testing
from notifykit import SMTP_PASSWORD, WEBHOOK_SECRET, MailServer, WebhookReceiver

from faxdropd.config import Config, parse_config
from faxdropd.daemon.metrics import Metrics
from faxdropd.jobs import notices
from faxdropd.jobs.journal import Journal
from faxdropd.notify import webhook
from faxdropd.notify.sender import Sender, backoff

RECEIPT: dict[str, Any] = {
    "job_id": "0123456789abcdef",
    "reference": "fd-0123456789abcdef",
    "file": "invoice-1043.pdf",
    "folder": "accounting",
    "to": ["+12125550100"],
    "transaction_ids": [123456],
    "outcome": "failed",
    "status": 3931,
    "reason": "busy",
    "pages": 2,
    "attempts": 1,
}


def config(tmp_path: Path, mail: MailServer | None, hooks: WebhookReceiver | None, **notify: Any) -> Config:
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET)
    secret.chmod(0o600)
    block: dict[str, Any] = {"webhook_secret_file": str(secret), "retry_initial": 60, "retry_cap": 600, **notify}
    if mail is not None:
        block.setdefault("smtp", mail.smtp_config())
        block.setdefault("email", ["frontdesk@example.org"])
    if hooks is not None:
        block.setdefault("webhooks", [hooks.url])
    data = {
        "interfax": {"url": "embedded"},
        "state_dir": str(tmp_path / "state"),
        "notify": block,
        "folders": [{"path": str(tmp_path / "hot"), "name": "accounting", "to": "+12125550100"}],
    }
    return parse_config(data, base_dir=tmp_path, env={"FAXDROPD_SMTP_PASSWORD": SMTP_PASSWORD})


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "state", exit_on_failure=False)
    yield j
    j.close()


def enqueue(journal: Journal, cfg: Config, event: str = "failed", **receipt: Any) -> list[str]:
    planned = notices.plan(cfg, "accounting", event, {**RECEIPT, "outcome": event, **receipt}, job_id=None)
    journal.enqueue(planned)
    return [n.id for n in planned]


def sender(journal: Journal, cfg: Config) -> tuple[Sender, Metrics]:
    metrics = Metrics(process_metrics=False)
    return Sender(journal, lambda: cfg, metrics), metrics


def count(metrics: Metrics, channel: str, result: str) -> float:
    value = metrics.registry.get_sample_value("faxdropd_notifications_total", {"channel": channel, "result": result})
    return value or 0.0


def test_mail_goes_over_verified_starttls_with_auth(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    cfg = config(tmp_path, mail, None)
    [nid] = enqueue(journal, cfg)
    s, metrics = sender(journal, cfg)
    assert s.pass_once() == 1
    [got] = mail.messages()
    assert got.tls and got.user == "fax@example.org" and got.recipients == ["frontdesk@example.org"]
    msg = got.message
    assert msg["Subject"] == "Fax FAILED: invoice-1043.pdf to +1 212 555 0100 — busy"
    assert msg["Message-ID"] == f"<{nid}.faxdropd@example.org>"
    text = msg.get_body(("plain",)).get_content()
    for fact in ("Reason:", "busy", "Transaction ids: 123456", "Pages:", "faxdropd retry"):
        assert fact in text
    assert [p.get_filename() for p in msg.iter_attachments()] == ["invoice-1043.pdf.receipt.json"]
    assert journal.outbox_get(nid).state == "sent"  # type: ignore[union-attr]
    assert count(metrics, "email", "sent") == 1


def test_an_untrusted_certificate_is_not_accepted(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    # verify_tls: true checks against the system store, which does not know the test CA.
    cfg = config(tmp_path, mail, None, smtp=mail.smtp_config(verify_tls=True))
    [nid] = enqueue(journal, cfg)
    s, metrics = sender(journal, cfg)
    s.pass_once()
    row = journal.outbox_get(nid)
    assert row is not None and row.state == "pending" and "certificate" in (row.last_error or "")
    assert mail.messages() == [] and count(metrics, "email", "retried") == 1


@pytest.mark.parametrize("mode", ["refuse", "drop", "down"])
def test_a_failing_server_is_retried_with_the_same_message_id(
    tmp_path: Path, journal: Journal, mail: MailServer, mode: str
) -> None:
    cfg = config(tmp_path, mail, None)
    [nid] = enqueue(journal, cfg)
    s, metrics = sender(journal, cfg)
    if mode == "down":
        mail.stop()
    else:
        mail.mode = mode
    now = time.time()
    s.pass_once(now)
    row = journal.outbox_get(nid)
    assert row is not None and row.state == "pending" and row.attempts == 1
    # Jittered back-off: between half and all of retry_initial.
    assert now + 30 <= row.next_at <= now + 60
    assert s.pass_once(now + 1) == 0  # not due yet
    if mode == "down":
        mail.start()
    mail.mode = "ok"
    s.pass_once(row.next_at)
    [got] = mail.messages()
    assert got.message["Message-ID"] == f"<{nid}.faxdropd@example.org>"
    assert count(metrics, "email", "retried") == 1 and count(metrics, "email", "sent") == 1


def test_gives_up_after_retry_for_with_an_error(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    cfg = config(tmp_path, mail, None, retry_for="1h")
    [nid] = enqueue(journal, cfg)
    s, metrics = sender(journal, cfg)
    mail.mode = "refuse"
    with structlog.testing.capture_logs() as logs:
        s.pass_once(time.time() + 3601)
    row = journal.outbox_get(nid)
    assert row is not None and row.state == "gave_up" and "451" in (row.last_error or "")
    assert count(metrics, "email", "given_up") == 1
    assert [e["log_level"] for e in logs if e["event"] == "notify.gave_up"] == ["error"]


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    assert backoff(0, 30, 3600, rng=lambda: 1.0) == 30
    assert backoff(0, 30, 3600, rng=lambda: 0.0) == 15
    assert backoff(3, 30, 3600, rng=lambda: 1.0) == 240
    assert backoff(20, 30, 3600, rng=lambda: 1.0) == 3600


def test_webhook_is_signed_and_carries_its_identity(tmp_path: Path, journal: Journal, hooks: WebhookReceiver) -> None:
    cfg = config(tmp_path, None, hooks)
    [nid] = enqueue(journal, cfg, "rejected", reason="no destination")
    s, metrics = sender(journal, cfg)
    s.pass_once()
    [hook] = hooks.received()
    assert hook.signed_ok
    assert hook.headers["X-Faxdropd-Delivery"] == nid and hook.headers["X-Faxdropd-Event"] == "rejected"
    assert hook.json == {
        **RECEIPT,
        "outcome": "rejected",
        "reason": "no destination",
        "event": "rejected",
        "notification_id": nid,
    }
    assert count(metrics, "webhook", "sent") == 1


def test_webhook_signature_matches_the_reference_vector() -> None:
    # GitHub's documented example: the same HMAC-SHA256 over the raw body.
    assert webhook.signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 413, 422, 451, 408, 429, 500, 503])
def test_webhook_4xx_is_permanent_except_408_and_429(
    tmp_path: Path, journal: Journal, hooks: WebhookReceiver, status: int
) -> None:
    """410 Gone, or any 4xx but 408/429, is given up at once (error log, counted); the rest are retried."""
    permanent = 400 <= status < 500 and status not in (408, 429)
    cfg = config(tmp_path, None, hooks)
    [nid] = enqueue(journal, cfg)
    hooks.status = status
    s, metrics = sender(journal, cfg)
    with structlog.testing.capture_logs() as logs:
        s.pass_once()
    row = journal.outbox_get(nid)
    assert row is not None and f"HTTP {status}" in (row.last_error or "")
    assert row.state == ("gave_up" if permanent else "pending")
    assert count(metrics, "webhook", "given_up") == (1 if permanent else 0)
    assert count(metrics, "webhook", "retried") == (0 if permanent else 1)
    told = [(e["event"], e["log_level"]) for e in logs if e["event"].startswith("notify.")]
    assert told == ([("notify.gave_up", "error")] if permanent else [("notify.retry", "warning")])
    if permanent:  # and never tried again, however long the sender runs
        assert s.pass_once(time.time() + 30 * 86400) == 0 and len(hooks.received()) == 1


def test_every_notification_series_is_exported_from_the_start() -> None:
    """faxdropd_notifications_total{channel,result}: all six series exist at 0 before anything is sent."""
    metrics = Metrics(process_metrics=False)
    for channel in ("email", "webhook"):
        for result in ("sent", "retried", "given_up"):
            assert (
                metrics.registry.get_sample_value(
                    "faxdropd_notifications_total", {"channel": channel, "result": result}
                )
                == 0.0
            )


def test_a_resend_after_a_crash_carries_the_same_identity(
    tmp_path: Path, mail: MailServer, hooks: WebhookReceiver
) -> None:
    # Delivered, then the process dies before recording it: the next start sends it again, same ids.
    cfg = config(tmp_path, mail, hooks)
    first = Journal(tmp_path / "state", exit_on_failure=False)
    ids = enqueue(first, cfg)
    s, _ = sender(first, cfg)
    s.journal.outbox_sent = lambda ids: None  # type: ignore[method-assign]  # the crash: never recorded
    s.pass_once()
    first.close()
    again = Journal(tmp_path / "state", exit_on_failure=False)
    try:
        sender(again, cfg)[0].pass_once()
        assert all(again.outbox_get(i).state == "sent" for i in ids)  # type: ignore[union-attr]
    finally:
        again.close()
    mails, posts = mail.messages(), hooks.received()
    assert len(mails) == 2 and len(posts) == 2
    assert mails[0].message["Message-ID"] == mails[1].message["Message-ID"]
    assert posts[0].headers["X-Faxdropd-Delivery"] == posts[1].headers["X-Faxdropd-Delivery"]
    assert posts[0].body == posts[1].body


def test_digest_sends_one_mail_per_folder_and_period(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    cfg = config(tmp_path, mail, None, digest="1h", on=["failed", "rejected", "delivered"])
    ids = [nid for i in range(5) for nid in enqueue(journal, cfg, "failed", file=f"doc-{i}.pdf")]
    ids += enqueue(journal, cfg, "delivered", file="fine.pdf")
    s, metrics = sender(journal, cfg)
    assert s.pass_once() == 0  # held until the period ends
    due = notices.digest_due(time.time(), 3600)
    assert s.pass_once(due) == 6
    [got] = mail.messages()
    assert got.message["Subject"] == "Fax digest for accounting: 6 fax events, 5 FAILED or REJECTED"
    text = got.message.get_body(("plain",)).get_content()
    assert all(f"doc-{i}.pdf" in text for i in range(5)) and "fine.pdf" in text
    assert got.message["Message-ID"] == f"<{min(ids)}.faxdropd@example.org>"
    assert count(metrics, "email", "sent") == 1


def test_document_is_attached_only_to_failures(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    from faxdropd.notify import email

    doc = tmp_path / "invoice-1043.pdf"
    doc.write_bytes(b"%PDF-1.4 test")
    failed = email.attachments({**RECEIPT, "event": "failed"}, "document", str(doc))
    assert failed == [("invoice-1043.pdf", b"%PDF-1.4 test", "application/octet-stream")]
    assert email.attachments({**RECEIPT, "event": "delivered"}, "document", str(doc)) == []
    assert email.attachments({**RECEIPT, "event": "failed"}, "none", str(doc)) == []


def test_account_and_folder_changes_are_notified(tmp_path: Path, journal: Journal, mail: MailServer) -> None:
    from faxdropd.jobs.runtime import Pause
    from faxdropd.notify.changes import FolderEvents

    cfg = config(tmp_path, mail, None, on=["paused", "resumed", "folder_down", "folder_up"])
    pause, folders = Pause(journal, lambda: cfg), FolderEvents(journal, lambda: cfg)
    folders("accounting", False, "not mounted")
    folders("accounting", True)
    pause.set("InterFAX refused the login (-1003)", 60)
    pause.set("InterFAX refused the login (-1003)", 60)  # the same pause, longer: no second mail
    pause.clear()
    pause.clear()  # not paused: nothing to tell
    assert sorted(n.event for n in journal.outbox_all()) == ["folder_down", "folder_up", "paused", "resumed"]
    sender(journal, cfg)[0].pass_once()
    subjects = sorted(str(m.message["Subject"]) for m in mail.messages())
    assert subjects == [
        "Fax folder DOWN: accounting",
        "Fax folder back: accounting",
        "Fax sending PAUSED: InterFAX refused the login (-1003)",
        "Fax sending resumed",
    ]
    assert all(not list(m.message.iter_attachments()) for m in mail.messages())


def test_a_pause_and_its_notification_commit_together(
    tmp_path: Path, journal: Journal, hooks: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paused notification is written in the pause's own transaction: if that fails, neither is kept."""
    from faxdropd.errors import JournalFailure
    from faxdropd.jobs.outbox import Notice
    from faxdropd.jobs.runtime import Pause

    cfg = config(tmp_path, None, hooks, on=["paused", "resumed"])
    pause = Pause(journal, lambda: cfg)
    [planned] = pause._notices("paused", "x")
    assert planned.event == "paused" and planned.target == [hooks.url]
    journal.enqueue([Notice("paused", "webhook", [hooks.url], {}, "", id="clash")])
    # The notification planned for the pause takes an id already in the outbox: its insert fails.
    monkeypatch.setattr(
        pause, "_notices", lambda event, reason: [Notice(event, "webhook", [hooks.url], {}, "", id="clash")]
    )
    with pytest.raises(JournalFailure):
        pause.set("InterFAX refused the login (-1003)", 60)
    assert Journal.get_meta(journal, "paused_until") is None  # the pause was not recorded without its notification
    assert [n.id for n in journal.outbox_all()] == ["clash"]


def test_the_outcome_and_its_notifications_commit_together(tmp_path: Path, journal: Journal) -> None:
    from faxdropd.errors import JournalFailure
    from faxdropd.jobs.journal import Job, Outcome, State
    from faxdropd.jobs.outbox import Notice
    from faxdropd.jobs.pending import Change

    job = journal.create(Job("j1", "fd-j1", "accounting", "/hot", "a.pdf", "/hot/.w/a.pdf", None, State.SUBMITTED))
    taken = Notice("failed", "webhook", ["http://x"], {}, "accounting", job_id="j1", id="same")
    journal.enqueue([taken])
    clash = Notice("failed", "webhook", ["http://x"], {}, "accounting", job_id="j1", id="same")
    with pytest.raises(JournalFailure):
        journal.commit(Change(job, None, "outcome failed", {"outcome": Outcome.FAILED, "reason": "busy"}, [clash]))
    stored = journal.get("j1")
    assert stored is not None and stored.outcome is None  # the outbox row failed, so the outcome is not there
    fresh = journal.get("j1")
    assert fresh is not None
    notice = Notice("failed", "email", ["a@example.org"], {}, "accounting", job_id="j1")
    journal.commit(Change(fresh, None, "outcome failed", {"outcome": Outcome.FAILED}, [notice]))
    assert journal.get("j1").outcome == Outcome.FAILED  # type: ignore[union-attr]
    assert sorted(n.channel for n in journal.outbox_all()) == ["email", "webhook"]


def test_settled_rows_are_pruned_after_a_month(tmp_path: Path, journal: Journal, hooks: WebhookReceiver) -> None:
    cfg = config(tmp_path, None, hooks)
    [sent] = enqueue(journal, cfg)
    s, _ = sender(journal, cfg)
    s.pass_once()
    [waiting] = enqueue(journal, cfg)
    hooks.status = 503
    s._pruned = 0.0
    s.pass_once(time.time() + 31 * 86400)
    assert journal.outbox_get(sent) is None and journal.outbox_get(waiting) is not None


def test_retry_after_is_honoured_up_to_the_cap(tmp_path: Path, journal: Journal, hooks: WebhookReceiver) -> None:
    cfg = config(tmp_path, None, hooks)  # retry_initial 60, retry_cap 600
    hooks.status, hooks.retry_after = 429, "300"
    [nid] = enqueue(journal, cfg)
    now = time.time()
    sender(journal, cfg)[0].pass_once(now)
    row = journal.outbox_get(nid)
    assert row is not None and row.next_at == pytest.approx(now + 300, abs=1)
    hooks.retry_after = "86400"
    sender(journal, cfg)[0].pass_once(row.next_at)
    row = journal.outbox_get(nid)
    assert row is not None and row.attempts == 2 and row.next_at <= now + 300 + 600 + 1
