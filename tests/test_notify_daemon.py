"""End to end: the real daemon notifies every outcome by e-mail (aiosmtpd, STARTTLS + AUTH) and signed webhook."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from daemonkit import PASSWORD, DaemonProcess, arm_fault, drop, receipts, wait_for, write_config
from notifykit import SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET, MailServer, WebhookReceiver

from faxdropd.document.sample import make_sample_pdf

DELIVER = "+99999990"
FAIL = "+99999993931"  # the InterFAX simulator ends a fax to +9999999<code> with status <code>


def notify_config(tmp_path: Path, mail: MailServer, hooks: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET + "\n")
    secret.chmod(0o600)
    return {
        "smtp": mail.smtp_config(),
        "webhook_secret_file": str(secret),
        "on": ["delivered", "accepted", "failed", "rejected"],
        "email": ["frontdesk@example.org"],
        "webhooks": [hooks.url],
        "allow_domains": ["example.org"],
        "retry_initial": 0.2,
        "retry_cap": 1,
        **extra,
    }


def start(tmp_path: Path, cfg: Path, daemons: list[DaemonProcess]) -> DaemonProcess:
    d = DaemonProcess(cfg, tmp_path / "daemon.log", env={"FAXDROPD_SMTP_PASSWORD": SMTP_PASSWORD})
    daemons.append(d)
    return d.start()


def outbox(tmp_path: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{tmp_path / 'state' / 'journal.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM outbox")]
    finally:
        db.close()


def command(cfg: Path, *args: str) -> Any:
    """A console command beside the running daemon, as an operator runs it: its --json output, parsed."""
    env = {**os.environ, "FAXDROPD_TEST_PASSWORD": PASSWORD, "FAXDROPD_SMTP_PASSWORD": SMTP_PASSWORD}
    done = subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(cfg), *args, "--json"], capture_output=True, env=env, check=True
    )
    return json.loads(done.stdout)


def status(cfg: Path) -> dict[str, Any]:
    report: dict[str, Any] = command(cfg, "status")
    return report


def assert_no_secrets(tmp_path: Path, hot: Path, d: DaemonProcess) -> None:
    journal = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("journal.sqlite3*"))
    filed = b"".join(p.read_bytes() for p in hot.rglob("*.receipt.json"))
    log = d.log_text().encode()
    # AUTH PLAIN carries the password base64-encoded: that form must not leak either.
    plain = base64.b64encode(f"\0{SMTP_USER}\0{SMTP_PASSWORD}".encode())
    for needle in (SMTP_PASSWORD.encode(), WEBHOOK_SECRET.encode(), plain):
        assert needle not in log and needle not in journal and needle not in filed


def test_every_outcome_is_mailed_and_posted(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    folders = [{"path": str(hot), "to": DELIVER}]  # accepted (track: false) has its own test below
    cfg = write_config(tmp_path, emulator.url, folders, extra={"notify": notify_config(tmp_path, mail, hooks)})
    d = start(tmp_path, cfg, daemons)
    drop(hot, "invoice-1043.pdf", make_sample_pdf(text="ok"))
    drop(hot, f"fax={FAIL} memo.pdf", make_sample_pdf(text="fails"))
    drop(hot, "fax=abc memo.pdf", make_sample_pdf(text="rejected"))
    wait_for(lambda: len(receipts(hot / "sent")) + len(receipts(hot / "failed")) == 3, 90, what="three outcomes")
    wait_for(lambda: len(mail.messages()) == 3 and len(hooks.received()) == 3, 60, what="three mails and hooks")

    by_event = {m.message["Subject"].split(":")[0]: m for m in mail.messages()}
    assert set(by_event) == {"Fax delivered", "Fax FAILED", "Fax REJECTED"}
    for m in mail.messages():
        assert m.tls and m.user == "fax@example.org" and m.recipients == ["frontdesk@example.org"]
    failed = by_event["Fax FAILED"].message
    assert failed["Subject"].startswith(f"Fax FAILED: fax={FAIL} memo.pdf to ")
    text = failed.get_body(("plain",)).get_content()
    assert "faxdropd retry" in text and "Transaction ids:" in text
    assert [p.get_filename() for p in failed.iter_attachments()] == [f"fax={FAIL} memo.pdf.receipt.json"]

    rows = {r["id"]: r for r in outbox(tmp_path)}
    for hook in hooks.received():
        assert hook.signed_ok, "the receiver checks X-Faxdropd-Signature"
        body = hook.json
        assert hook.headers["X-Faxdropd-Delivery"] == body["notification_id"] in rows
        assert hook.headers["X-Faxdropd-Event"] == body["event"] == body["outcome"]
        assert body["job_id"] and body["file"]
    assert {h.json["event"] for h in hooks.received()} == {"delivered", "failed", "rejected"}
    for m in mail.messages():
        nid = m.message["X-Faxdropd-Notification"]
        assert m.message["Message-ID"] == f"<{nid}.faxdropd@example.org>" and nid in rows
    wait_for(lambda: all(r["state"] == "sent" for r in outbox(tmp_path)), 30, what="outbox settled")
    assert d.stop() == 0
    assert_no_secrets(tmp_path, hot, d)


def test_accepted_is_notified_when_tracking_is_off(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    extra = {"notify": notify_config(tmp_path, mail, hooks), "delivery": {"track": False}}
    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": DELIVER}], extra=extra)
    d = start(tmp_path, cfg, daemons)
    drop(hot, "letter.pdf", make_sample_pdf(text="accepted"))
    wait_for(lambda: len(mail.messages()) == 1 and len(hooks.received()) == 1, 60, what="accepted notified")
    assert mail.messages()[0].message["Subject"].startswith("Fax accepted: letter.pdf to ")
    assert hooks.received()[0].json["event"] == "accepted"
    assert d.stop() == 0


def test_mail_server_down_then_back(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    mail.stop()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": DELIVER}],
        extra={"notify": notify_config(tmp_path, mail, hooks)},
    )
    d = start(tmp_path, cfg, daemons)
    for i in range(4):
        drop(hot, f"doc-{i}.pdf", make_sample_pdf(text=f"doc {i}"))
    # The fax flow does not wait for the mail server: every document is filed while it is down.
    wait_for(lambda: len(receipts(hot / "sent")) == 4, 90, what="faxes filed while mail is down")
    wait_for(lambda: any(e.get("event") == "notify.retry" for e in d.events()), 30, what="a mail retried")
    assert mail.messages() == []
    # The fax flow was not held up: every job is final and delivered while its mail waits.
    assert status(cfg)["states"] == {"delivered": 4}
    backlog = status(cfg)["notifications"]  # the mail backlog shows beside the running daemon
    assert backlog["pending"] == 4 and backlog["given_up"] == 0 and backlog["oldest_pending_age_s"] >= 0
    waiting = [i for i in command(cfg, "queue") if i["kind"] == "notification" and i["channel"] == "email"]
    assert sorted(i["file"] for i in waiting) == [f"doc-{i}.pdf" for i in range(4)]
    assert all(i["state"] == "pending" and i["event"] == "delivered" for i in waiting)
    mail.start()  # the same port
    wait_for(lambda: len(mail.messages()) == 4, 60, what="every mail delivered once the server is back")
    assert sorted(m.message["Subject"].split(" to ")[0] for m in mail.messages()) == [
        f"Fax delivered: doc-{i}.pdf" for i in range(4)
    ]
    wait_for(lambda: all(r["state"] == "sent" for r in outbox(tmp_path)), 30, what="outbox settled")
    assert d.stop() == 0


def test_sidecar_recipients_only_within_allow_domains(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": DELIVER}],
        extra={"notify": notify_config(tmp_path, mail, hooks)},
    )
    d = start(tmp_path, cfg, daemons)
    (hot / "mine.pdf.fax.yaml").write_text(f'to: "{FAIL}"\nnotify: [person@sub.example.org]\n')
    (hot / "theirs.pdf.fax.yaml").write_text("notify: [someone@elsewhere.com]\n")
    drop(hot, "mine.pdf", make_sample_pdf(text="mine"))
    drop(hot, "theirs.pdf", make_sample_pdf(text="theirs"))
    wait_for(lambda: len(receipts(hot / "failed")) == 2, 90, what="both filed in failed/")
    reasons = {r["file"]: (r["outcome"], r["reason"]) for r in receipts(hot / "failed")}
    assert reasons["theirs.pdf"] == (
        "rejected",
        "sidecar notify someone@elsewhere.com is outside the allowed domains: example.org",
    )
    assert reasons["mine.pdf"][0] == "failed"
    # mine.pdf: the front desk and the person its sidecar names; theirs.pdf: the front desk only.
    wait_for(lambda: len(mail.messages()) == 3, 60, what="three mails")
    to = sorted((m.message["Subject"].split(":")[1].split()[0], tuple(m.recipients)) for m in mail.messages())
    assert to == [
        ("mine.pdf", ("frontdesk@example.org",)),
        ("mine.pdf", ("person@sub.example.org",)),
        ("theirs.pdf", ("frontdesk@example.org",)),
    ]
    assert all("elsewhere.com" not in r for m in mail.messages() for r in m.recipients)
    assert d.stop() == 0


def test_a_crash_right_after_the_outcome_loses_no_notification(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": DELIVER}],
        extra={"notify": notify_config(tmp_path, mail, hooks)},
    )
    d = DaemonProcess(cfg, tmp_path / "daemon.log", env={"FAXDROPD_SMTP_PASSWORD": SMTP_PASSWORD})
    daemons.append(d)
    # SIGKILL at the first outcome: committed, nothing filed, nothing sent yet.
    d.start(extra_env={"FAXDROPD_CRASH_AT": "after_outcome"})
    drop(hot, "fax=abc memo.pdf", make_sample_pdf(text="rejected"))
    assert d.proc is not None
    d.proc.wait(60)
    assert d.proc.returncode == -9 and mail.messages() == [] and hooks.received() == []
    d.start()
    wait_for(lambda: len(receipts(hot / "failed")) == 1, 60, what="filed after the restart")
    wait_for(lambda: len(mail.messages()) == 1 and len(hooks.received()) == 1, 60, what="notified after the restart")
    assert hooks.received()[0].json["event"] == "rejected"
    assert d.stop() == 0


def test_account_and_folder_events_reach_the_receiver(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], mail: MailServer, hooks: WebhookReceiver
) -> None:
    """A pause (committed with its notification) and a folder going away and back, from the running daemon."""
    hot = tmp_path / "hot"
    hot.mkdir()
    events = ["paused", "resumed", "folder_down", "folder_up"]
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": DELIVER, "name": "office"}],
        extra={"notify": notify_config(tmp_path, mail, hooks, on=events)},
    )
    d = start(tmp_path, cfg, daemons)

    def told() -> list[str]:
        return [h.json["event"] for h in hooks.received()]

    hot.rename(tmp_path / "office.offline")  # the share goes away
    wait_for(lambda: "folder_down" in told(), 30, what="folder_down posted")
    (tmp_path / "office.offline").rename(hot)
    wait_for(lambda: "folder_up" in told(), 30, what="folder_up posted")
    down = next(h.json for h in hooks.received() if h.json["event"] == "folder_down")
    assert down["folder"] == "office" and down["reason"]

    arm_fault(emulator, op="*", kind="error", code=-1003, count=1)  # the login refused: sending pauses
    drop(hot, "a.pdf", make_sample_pdf(text="paused"))
    wait_for(lambda: "paused" in told(), 30, what="paused posted")
    paused = next(h.json for h in hooks.received() if h.json["event"] == "paused")
    assert "-1003" in paused["reason"] and all(h.signed_ok for h in hooks.received())
    rows = {r["event"]: r for r in outbox(tmp_path)}
    assert set(rows) == {"folder_down", "folder_up", "paused"}  # one row each, and nothing about the file yet
    assert told().count("paused") == 1 and told().count("folder_down") == 1
    assert d.stop() == 0
