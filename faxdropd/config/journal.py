"""The top-level `journal:` keys: which database holds the journal, with what password, and the lease.

Without `journal:` the journal is SQLite in state_dir, as it always was. With a `postgresql://` URI (libpq's
form: TLS and every other connection option as its query parameters, e.g. `?sslmode=verify-full&sslrootcert=`)
it is that server's, shared by every host that names it. The password comes from `journal_password_file`
(a file or `credential:NAME`, like interfax.password_file) or from libpq's own sources (~/.pgpass, a
client certificate); one written into the URI works but is warned about.
"""

from __future__ import annotations

# No pydantic here: `place.py` checks these keys for the console without building the models.
from urllib.parse import urlsplit

from faxdropd.config.context import Ctx, read_password_file

# The shortest lease the config takes: renewals run every third of it, and a round trip must fit in that.
MIN_LEASE = 3.0
DEFAULT_LEASE = 30.0


def journal_url(value: object) -> str:
    if isinstance(value, str):
        text = value.strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            parts = None
        if parts is not None and parts.scheme in ("postgresql", "postgres") and (parts.netloc or parts.query):
            return text
    raise ValueError("must be a PostgreSQL URI such as postgresql://faxdropd@db.example/faxdropd")


def _url_has_password(url: str) -> bool:
    try:
        return bool(urlsplit(url).password) or "password=" in urlsplit(url).query
    except ValueError:
        return False


def journal_keys(
    url: str | None, password_file: str | None, lease: float, ctx: Ctx
) -> tuple[list[tuple[str, str]], str | None]:
    """Check the three keys together: the problems (relative key, sentence) and the password read from
    journal_password_file, if any."""
    problems: list[tuple[str, str]] = []
    secret: str | None = None
    if lease < MIN_LEASE:
        problems.append(("journal_lease", f"must be at least {MIN_LEASE:g}s (renewed every third of it)"))
    if password_file is not None:
        if url is None:
            problems.append(("journal_password_file", "needs journal: (a postgresql:// URI)"))
        else:
            # The operator's commands read the journal too, so they try the file; one they cannot read (a
            # credential only the service sees) is not their problem: libpq may still find ~/.pgpass.
            sink = problems if ctx.need_password else []
            secret = read_password_file(password_file, ctx, sink, key="journal_password_file", label="")
    if url is not None and _url_has_password(url):
        ctx.warnings.append("journal: the password is written in the URI; prefer journal_password_file")
    return problems, secret
