"""notify-test, check-config and status for notifications; the notify: block's validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from daemonkit import PASSWORD, write_config
from notifykit import SMTP_PASSWORD, WEBHOOK_SECRET, MailServer, WebhookReceiver

from faxdropd.cli.main import main
from faxdropd.config import parse_config
from faxdropd.errors import ConfigError


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAXDROPD_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("FAXDROPD_SMTP_PASSWORD", SMTP_PASSWORD)


def configured(tmp_path: Path, notify: dict[str, Any]) -> Path:
    hot = tmp_path / "hot"
    hot.mkdir(exist_ok=True)
    return write_config(tmp_path, "embedded", [{"path": str(hot), "to": "+99999990"}], extra={"notify": notify})


def test_notify_test_reports_each_channel(
    tmp_path: Path, mail: MailServer, hooks: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(WEBHOOK_SECRET)
    secret.chmod(0o600)
    notify = {"smtp": mail.smtp_config(), "email": ["frontdesk@example.org"], "webhooks": [hooks.url]}
    cfg = configured(tmp_path, {**notify, "webhook_secret_file": str(secret)})
    assert main(["-c", str(cfg), "notify-test"]) == 0
    out = capsys.readouterr().out
    assert "email to frontdesk@example.org via 127.0.0.1" in out and "sent, Message-ID <" in out
    assert f"webhook {hooks.url}: delivered (signed)" in out
    [got] = mail.messages()
    assert got.message["Subject"] == "faxdropd test message" and got.tls
    [hook] = hooks.received()
    assert hook.signed_ok and hook.headers["X-Faxdropd-Event"] == "test"

    assert main(["-c", str(cfg), "notify-test", "--to", "me@example.org"]) == 0
    assert mail.messages()[-1].recipients == ["me@example.org"] and len(hooks.received()) == 1

    mail.mode = "refuse"
    assert main(["-c", str(cfg), "notify-test", "--to", "me@example.org"]) == 1
    assert "FAILED: SMTP 451" in capsys.readouterr().out
    for secret_text in (SMTP_PASSWORD, WEBHOOK_SECRET):
        assert secret_text not in out


def test_notify_test_without_channels_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = configured(tmp_path, {})
    assert main(["-c", str(cfg), "notify-test"]) == 1
    assert "no notification channel is configured" in capsys.readouterr().out


def test_check_config_shows_who_hears_of_what(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notify = {"smtp": {"host": "mail.example.org", "from": "Fax <fax@example.org>"}, "email": ["a@example.org"]}
    cfg = configured(tmp_path, notify)
    assert main(["-c", str(cfg), "check-config"]) == 0
    out = capsys.readouterr().out
    assert "mail via mail.example.org:587 (starttls, TLS verified) from Fax <fax@example.org>" in out
    assert "hot: failed, rejected -> a@example.org (attach receipt)" in out


def parse(notify: Any, folder_notify: Any = None) -> Any:
    folder: dict[str, Any] = {"path": "/srv/fax/a", "to": "+12125550100"}
    if folder_notify is not None:
        folder["notify"] = folder_notify
    data = {"interfax": {"url": "embedded"}, "notify": notify, "folders": [folder]}
    return parse_config(data, base_dir=Path("/tmp"), env={"SMTP_PW": "smtp-pw-long"})


@pytest.mark.parametrize(
    ("notify", "folder", "problem"),
    [
        ({"email": ["a@example.org"]}, None, "notify.email: needs notify.smtp: to send mail"),
        ({}, {"email": ["a@example.org"]}, "folders[0].notify.email: needs notify.smtp"),
        ({"email": ["not an address"]}, None, "notify.email[0]: must be an e-mail address"),
        ({"on": ["exploded"]}, None, "notify.on[0]: must be one of delivered, accepted"),
        ({"attach": "everything"}, None, "notify.attach: must be one of none, receipt, document"),
        ({"webhooks": ["ftp://x"]}, None, "notify.webhooks[0]: must be an http(s):// URL"),
        ({"smtp": {"host": "h", "from": "f@example.org", "password": "pw"}}, None, "notify.smtp.password: is not read"),
        ({"smtp": {"host": "h"}}, None, "notify.smtp.from: is required"),
        ({"webhook_secret_file": "/nonexistent/secret"}, None, "notify.webhook_secret_file: the file /nonexistent"),
        ({"emial": []}, None, "notify.emial"),
    ],
)
def test_the_notify_block_is_validated(notify: Any, folder: Any, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(notify, folder)
    assert problem in str(caught.value)
    assert "pw" not in str(caught.value).replace("password", "")


def test_a_folder_replaces_only_the_keys_it_names() -> None:
    from faxdropd.config.notify import effective

    base = {
        "smtp": {"host": "h", "from": "f@example.org"},
        "email": ["desk@example.org"],
        "attach": "none",
        "on": "failed",
    }
    cfg = parse(base, {True: ["delivered"], "email": "acct@example.org"})  # YAML reads `on:` as true
    rules = effective(cfg.notify, cfg.folders[0].notify)
    assert (rules.on, rules.email, rules.attach) == (("delivered",), ("acct@example.org",), "none")
    smtp = parse(
        {"smtp": {"host": "h", "from": "f@example.org", "username": "u", "password_env": "SMTP_PW"}}
    ).notify.smtp
    assert smtp.password.get_secret_value() == "smtp-pw-long" and "smtp-pw-long" not in repr(smtp)


def test_status_and_queue_show_the_outbox_backlog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Pending (and the oldest's age), given up and sent, in `status`, `status --json`, `queue`, `queue --json`."""
    import json
    import time

    from faxdropd.jobs.journal import Journal
    from faxdropd.jobs.outbox import Notice

    cfg = configured(tmp_path, {})
    hook = "https://hooks.example.org/T0KEN/secret-path?sig=abc"
    payload = {"file": "invoice-1043.pdf", "event": "failed"}
    journal = Journal(tmp_path / "state", exit_on_failure=False)
    try:
        waiting = Notice("failed", "email", ["frontdesk@example.org"], payload, "hot", job_id="j1")
        gone = Notice("failed", "webhook", [hook], payload, "hot", job_id="j1")
        done = Notice("failed", "webhook", [hook], payload, "hot", job_id="j1")
        journal.enqueue([waiting, gone, done])
        journal.outbox_retry([waiting.id], time.time() + 600, "SMTP 451: 4.3.0 try again later")
        journal.outbox_give_up([gone.id], "HTTP 410 from hooks.example.org")
        journal.outbox_sent([done.id])
    finally:
        journal.close()

    main(["-c", str(cfg), "status", "--json"])
    report = json.loads(capsys.readouterr().out)["notifications"]
    assert report["pending"] == 1 and report["given_up"] == 1 and report["sent"] == 1
    assert report["oldest_pending_age_s"] is not None and report["oldest_pending_age_s"] >= 0
    main(["-c", str(cfg), "status"])
    assert "notifications: 1 pending (oldest " in capsys.readouterr().out

    assert main(["-c", str(cfg), "queue", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    listed = {i["notification_id"]: i for i in items if i["kind"] == "notification"}
    assert set(listed) == {waiting.id, gone.id}  # a sent one is done: not listed
    assert listed[waiting.id]["state"] == "pending" and listed[waiting.id]["attempts"] == 1
    assert listed[waiting.id]["reason"] == "SMTP 451: 4.3.0 try again later" and listed[waiting.id]["next_attempt_at"]
    assert listed[gone.id]["state"] == "gave_up" and listed[gone.id]["next_attempt_at"] is None
    assert listed[gone.id]["to"] == ["https://hooks.example.org"]  # a webhook's path and query hold its token
    for item in listed.values():  # the keys a reader of job objects reads are all there
        assert {"job_id", "reference", "state", "folder", "file", "to", "age_seconds", "reason", "held"} <= set(item)
    assert main(["-c", str(cfg), "queue"]) == 0
    out = capsys.readouterr().out
    assert "notifications: 1 pending (oldest " in out and "1 given up, 1 sent" in out
    assert "failed hot/invoice-1043.pdf  email -> frontdesk@example.org, 1 attempt: SMTP 451" in out
    assert "T0KEN" not in out
