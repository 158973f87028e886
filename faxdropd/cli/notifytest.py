"""`faxdropd notify-test [--to ADDRESS]`: send a test message through every configured channel, say what happened.

Sent directly, not through the journal's outbox: the daemon holds the journal while it runs, and an operator
checking the mail settings wants the server's answer now, not a retry in 30 seconds.
"""

from __future__ import annotations

import argparse
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK
from faxdropd.config import Config
from faxdropd.config.notify import address
from faxdropd.jobs.outbox import new_notification_id
from faxdropd.notify import email, webhook
from faxdropd.notify.errors import DeliveryFailed


def _payload() -> dict[str, Any]:
    now = datetime.fromtimestamp(time.time(), UTC).isoformat().replace("+00:00", "Z")
    return {"event": "test", "host": socket.gethostname(), "sent_at": now, "file": None}


def run(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    rules = cfg.notify
    to = _recipients(cfg, args.to)
    if to is None:
        return EXIT_FAIL
    sent = failed = 0
    payload = _payload()
    if to and rules.smtp is not None:
        nid = new_notification_id()
        text = (
            "This is a test message from faxdropd on {host}, sent {sent_at}.\n\n"
            "If you can read it, notifications by e-mail reach you.\n"
        ).format(**payload)
        msg = email.build(rules.smtp, nid, to, "faxdropd test message", text)
        where = f"{rules.smtp.host}:{rules.smtp.effective_port} ({rules.smtp.security})"
        try:
            refused = email.send(rules.smtp, msg)
        except DeliveryFailed as exc:
            print(f"email to {', '.join(to)} via {where}: FAILED: {exc}")
            failed += 1
        else:
            took = [a for a in to if a not in refused]
            print(f"email to {', '.join(took)} via {where}: sent, Message-ID {msg['Message-ID']}")
            if refused:
                print(f"email refused by the server for {', '.join(refused)}")
                failed += 1
            sent += 1
    elif args.to and rules.smtp is None:
        print("email: not configured (notify.smtp is missing)")
        failed += 1
    session = requests.Session()
    for url in [] if args.to else _webhooks(cfg):
        nid = new_notification_id()
        try:
            webhook.post(url, nid, payload, rules.webhook_secret.get_secret_value(), session)
        except DeliveryFailed as exc:
            print(f"webhook {url}: FAILED: {exc}")
            failed += 1
        else:
            signed = "signed" if rules.webhook_secret.get_secret_value() else "unsigned"
            print(f"webhook {url}: delivered ({signed}), X-Faxdropd-Delivery {nid}")
            sent += 1
    if not sent and not failed:
        print("no notification channel is configured (notify.email with notify.smtp, or notify.webhooks)")
        return EXIT_FAIL
    return EXIT_FAIL if failed else EXIT_OK


def _recipients(cfg: Config, given: str | None) -> list[str] | None:
    if given is not None:
        try:
            return [address(given)]
        except ValueError as exc:
            print(f"faxdropd notify-test: --to {exc}")
            return None
    found = list(cfg.notify.email)
    for folder in cfg.folders:
        if folder.notify is not None and folder.notify.email:
            found += folder.notify.email
    return list(dict.fromkeys(found))


def _webhooks(cfg: Config) -> list[str]:
    found = list(cfg.notify.webhooks)
    for folder in cfg.folders:
        if folder.notify is not None and folder.notify.webhooks:
            found += folder.notify.webhooks
    return list(dict.fromkeys(found))
