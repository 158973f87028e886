"""E-mail notifications: a message built with the stdlib `email` package, sent with `smtplib`.

TLS is verified exactly as the InterFAX connection is (faxdropd/tls.py), host name included; smtplib's own
default for STARTTLS would check neither.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

from faxdropd.config.notify import SmtpConfig
from faxdropd.notify.errors import DeliveryFailed
from faxdropd.tls import tls_context

MAX_ATTACHMENT = 10 * 1024 * 1024  # a larger document is named in the body, not attached


def message_id(notification_id: str, sender: str) -> str:
    """Derived from the notification id alone, so a resend after a crash carries the same Message-ID."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "faxdropd.invalid"
    return f"<{notification_id}.faxdropd@{domain}>"


def build(
    smtp: SmtpConfig,
    notification_id: str,
    to: list[str],
    subject: str,
    text: str,
    attachments: Sequence[tuple[str, bytes, str]] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.from_
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id(notification_id, smtp.from_)
    msg["X-Faxdropd-Notification"] = notification_id
    # An automatic message: vacation responders must not answer it (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(text)
    for name, data, kind in attachments:
        maintype, _, subtype = kind.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg


def attachments(receipt: dict[str, Any], attach: str, filed: str | None) -> list[tuple[str, bytes, str]]:
    """The receipt (as JSON) or, for a failed or rejected fax, the document itself, per `attach`."""
    if not receipt.get("job_id"):
        return []  # an account or folder event: no document, no receipt
    name = str(receipt.get("file") or "document")
    facts = {k: v for k, v in receipt.items() if k not in ("event", "attach")}
    if attach == "receipt":
        return [(f"{name}.receipt.json", json.dumps(facts, indent=2).encode(), "application/json")]
    if attach == "document" and receipt.get("event") in ("failed", "rejected") and filed:
        path = Path(filed)
        try:
            if path.is_file() and path.stat().st_size <= MAX_ATTACHMENT:
                return [(name, path.read_bytes(), "application/octet-stream")]
        except OSError:
            pass  # the document moved or the share is down: the mail still goes, naming where it was filed
    return []


def send(smtp: SmtpConfig, msg: EmailMessage) -> list[str]:
    """Hand `msg` to the server; returns the recipients it refused. DeliveryFailed says if a retry can help."""
    port = smtp.effective_port
    try:
        context = tls_context(smtp.verify_tls)
        client: smtplib.SMTP
        if smtp.security == "tls":
            client = smtplib.SMTP_SSL(smtp.host, port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, port, timeout=smtp.timeout)
        with client:
            if smtp.security == "starttls":
                client.starttls(context=context)
            password = smtp.password.get_secret_value()
            if smtp.username and password:
                client.login(smtp.username, password)
            refused = client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise DeliveryFailed(f"every recipient refused ({codes})", permanent=all(c >= 500 for c in codes)) from None
    except smtplib.SMTPAuthenticationError as exc:
        # Wrong credentials: retried, so mail flows once the operator fixes them and restarts.
        raise DeliveryFailed(f"SMTP login refused ({exc.smtp_code})") from None
    except smtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from None
    except ssl.SSLCertVerificationError as exc:
        raise DeliveryFailed(f"TLS certificate not trusted: {exc.verify_message}") from None
    except (TimeoutError, OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    # Some recipients took it: a resend would duplicate theirs, so the refused rest are reported, not retried.
    return sorted(refused)


def _text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return " ".join(text.split())[:200]
