"""The secret scan shared by the redaction tests: every form a password can take in an artefact, and where.

A password leaks in more shapes than its plain text: URL- or XML-escaped inside a SOAP envelope, escaped again
inside a JSON log line, or base64 on its own or as `user:password` (HTTP Basic), padded or not.
"""

from __future__ import annotations

import base64
import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.sax.saxutils import escape


def needles(secret: str, username: str) -> set[bytes]:
    """The byte strings whose presence in an artefact means the secret leaked."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
    forms |= {escape(secret), html.escape(secret), html.escape(secret).replace("&#x27;", "&apos;")}
    forms |= {json.dumps(f)[1:-1] for f in forms}  # as it appears inside a JSON log line
    out = {f.encode() for f in forms}
    for raw in (secret.encode(), f"{username}:{secret}".encode()):
        for enc in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
            out |= {enc, enc.rstrip(b"=")}
    return out


def files_under(*roots: Path) -> dict[str, bytes]:
    """Every regular file below the roots (not through a link), by path: logs, receipts, journal and WAL."""
    return {
        str(p): p.read_bytes() for root in roots for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
    }


def scan(artefacts: Mapping[str, bytes], secrets: Iterable[str], username: str) -> list[tuple[str, bytes]]:
    """(artefact, needle) for each form of each secret found: [] when nothing leaked."""
    wanted = sorted({n for s in secrets for n in needles(s, username)})
    return [(name, needle) for name, data in artefacts.items() for needle in wanted if needle in data]
