"""Webhook notifications: one signed POST per event.

Body: the receipt's JSON plus `event` and `notification_id`. Headers: X-Faxdropd-Delivery (the notification
id, the same on every retry: the receiver's idempotency key), X-Faxdropd-Event and, with a secret,
X-Faxdropd-Signature: sha256=<hex HMAC-SHA256 of the raw body>. 2xx is success; 4xx other than 408 and 429
is permanent (the receiver will never take it); everything else is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

import requests

from faxdropd import __version__
from faxdropd.notify.errors import DeliveryFailed

TIMEOUT = (10.0, 20.0)  # connect, read: a slow receiver must not hold the sender for long
_RETRYABLE_4XX = (408, 429)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def encode(notification_id: str, payload: dict[str, Any]) -> bytes:
    facts = {k: v for k, v in payload.items() if k != "attach"}
    return json.dumps({**facts, "notification_id": notification_id}, sort_keys=True, default=str).encode()


def post(url: str, notification_id: str, payload: dict[str, Any], secret: str, session: requests.Session) -> None:
    body = encode(notification_id, payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"faxdropd/{__version__}",
        "X-Faxdropd-Delivery": notification_id,
        "X-Faxdropd-Event": str(payload.get("event", "")),
    }
    if secret:
        headers["X-Faxdropd-Signature"] = signature(secret, body)
    try:
        # No redirects: a 3xx is a failure (the signed body must not be replayed to wherever it points).
        response = session.post(url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {_short(exc)}") from None
    code = response.status_code
    wait = _retry_after(response.headers.get("Retry-After"))
    response.close()
    if 200 <= code < 300:
        return
    permanent = 400 <= code < 500 and code not in _RETRYABLE_4XX
    raise DeliveryFailed(f"HTTP {code} from {_host(url)}", permanent=permanent, retry_after=wait)


def _retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form; an HTTP date is rare from webhook receivers and the back-off covers it.
    if value is not None and value.strip().isdigit():
        return float(value.strip())
    return None


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]
