"""Secrets out of log lines: the registered secrets in every form they take on the way to a log, and nothing else.

A secret is replaced where it appears whole, or in one of its encodings: raw, as a JSON string escapes it, its
base64 (alone or inside a longer base64 stream such as a Basic-auth header), its URL encoding and its XML/HTML
escaping. Parts of a secret are left alone, so a line never loses a word because the password contains it; and
a secret short enough to be an everyday word is refused at config time (``MIN_SECRET_LENGTH``) instead of being
scrubbed out of every line that happens to contain it.
"""

from __future__ import annotations

import base64
import html
import json
import re
import threading
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

from faxdropd.limits import MIN_SECRET_LENGTH

__all__ = ["MASK", "MIN_SECRET_LENGTH", "encodings", "forget_secrets", "register_secret", "scrub_text"]

MASK = "***"
# The floor (faxdropd/limits.py): a shorter secret is refused by the config, never registered here.

# <Password>…</Password>, <ns0:Password …>…, and the same escaped inside text (&lt;Password&gt;…).
# The content runs to the next tag, so a truncated envelope ("…<Password>hunter2") is scrubbed too.
_XML_PASSWORD = re.compile(r"(<(?:[\w.-]+:)?password\b[^>]*>)[^<]*", re.IGNORECASE)
_XML_PASSWORD_ESCAPED = re.compile(r"(&lt;(?:[\w.-]+:)?password\b.*?&gt;)(?:(?!&lt;).)*", re.IGNORECASE | re.DOTALL)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _base64_forms(raw: bytes) -> set[str]:
    """base64 of ``raw`` as it would appear alone *or inside a longer base64 stream*.

    A secret embedded at byte offset k (e.g. ``Basic base64(user:password)``) shares no aligned encoding with
    base64(secret), so for each of the three alignments keep only the characters that depend on secret bits.
    """
    whole = base64.b64encode(raw).decode()
    out = {whole, whole.rstrip("="), base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    for k in range(3):
        enc = base64.b64encode(b"\0" * k + raw).decode()
        first, end = -(-8 * k // 6), (8 * (k + len(raw))) // 6
        fragment = enc[first:end]
        if len(fragment) >= MIN_SECRET_LENGTH:  # shorter fragments would match random base64
            out.add(fragment)
            out.add(fragment.replace("+", "-").replace("/", "_"))
    return out


def encodings(secret: str) -> set[str]:
    """Every form of ``secret`` that is masked: itself, JSON-escaped, base64, URL-encoded, XML/HTML-escaped."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],  # as it looks inside a rendered JSON string (non-ASCII as \\uXXXX)
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        xml_escape(secret),
        xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
        html.escape(secret),
    }
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}
    forms |= _base64_forms(secret.encode())
    return {form for form in forms if form}


def register_secret(value: str) -> None:
    """Mask ``value`` in all its encodings in every later log line (under the floor: ignored, see module doc)."""
    global _pattern
    if len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        forms = set().union(*(encodings(secret) for secret in _secrets))
        ordered = sorted(forms, key=len, reverse=True)  # longest first: a whole encoding before a fragment
        _pattern = re.compile("|".join(re.escape(form) for form in ordered))


def forget_secrets() -> None:  # for tests
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def scrub_text(text: str) -> str:
    """Mask ``<Password>`` XML content and registered secrets in free text."""
    if "assword" in text or "ASSWORD" in text:
        text = _XML_PASSWORD.sub(rf"\1{MASK}", text)
        text = _XML_PASSWORD_ESCAPED.sub(rf"\1{MASK}", text)
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text
