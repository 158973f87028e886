"""Sessions for CSRF: a random session id in an HttpOnly, SameSite=Strict cookie, and a synchronizer token.

The token lives on the server beside the session and goes into every form as a hidden field (never a URL).
A POST is accepted only when its form token equals the one held for the cookie's session, compared in
constant time. Sessions live in memory: a daemon restart only means reloading the page before acting.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import OrderedDict
from http.cookies import CookieError, SimpleCookie

COOKIE = "faxdropd_session"
LIFETIME = 12 * 3600.0
MAX_SESSIONS = 5000


class Sessions:
    def __init__(self) -> None:
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def token_for(self, session_id: str | None) -> tuple[str, str, bool]:
        """(session id, its CSRF token, whether the session is new and its cookie must be set)."""
        now = time.monotonic()
        with self._lock:
            held = self._tokens.get(session_id) if session_id else None
            if session_id and held and now - held[1] < LIFETIME:
                return session_id, held[0], False
            new_id, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            self._tokens[new_id] = (token, now)
            while len(self._tokens) > MAX_SESSIONS:
                self._tokens.popitem(last=False)
            return new_id, token, True

    def valid(self, session_id: str | None, token: str | None) -> bool:
        if not session_id or not token:
            return False
        with self._lock:
            held = self._tokens.get(session_id)
        if held is None or time.monotonic() - held[1] >= LIFETIME:
            return False
        return hmac.compare_digest(held[0].encode(), token.encode())


def session_of(cookie_header: str) -> str | None:
    try:
        morsel = SimpleCookie(cookie_header).get(COOKIE)
    except CookieError:
        return None
    return morsel.value if morsel is not None else None


def set_cookie(session_id: str, secure: bool) -> str:
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={session_id}; Path=/; HttpOnly; SameSite=Strict{flags}"
