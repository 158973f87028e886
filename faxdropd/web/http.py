"""The little HTTP layer under the page: a request, a response, and the headers every response carries."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

# No inline script or style anywhere: every script and stylesheet is a file under /static/.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    # same-origin, not no-referrer: under no-referrer Chromium sends `Origin: null` with our own form posts.
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]
MAX_FORM = 16 * 1024  # the only forms carry a token and a confirmation: anything bigger is not ours
REASONS = {
    200: "OK",
    303: "See Other",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    client: str
    environ: dict[str, Any]
    user: str = ""
    _form: dict[str, str] | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        headers = {k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")}
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        return cls(
            method=environ.get("REQUEST_METHOD", "GET").upper(),
            path=environ.get("PATH_INFO", "/") or "/",
            query=query,
            headers=headers,
            client=str(environ.get("REMOTE_ADDR", "")),
            environ=environ,
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def form(self) -> dict[str, str]:
        if self._form is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            body = self.environ["wsgi.input"].read(min(length, MAX_FORM)) if length > 0 else b""
            parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
            self._form = {k: v[0] for k, v in parsed.items()}
        return self._form


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        return cls(json.dumps(data, ensure_ascii=False).encode(), status, "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(text.encode(), status, "text/plain; charset=utf-8")

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(b"", 303, headers=[("Location", location)])

    def wsgi(self) -> tuple[str, list[tuple[str, str]], Iterable[bytes]]:
        headers = [
            ("Content-Type", self.content_type),
            ("Content-Length", str(len(self.body))),
            ("Cache-Control", "no-store"),
            *SECURITY_HEADERS,
            *self.headers,
        ]
        return f"{self.status} {REASONS.get(self.status, 'Status')}", headers, [self.body]
