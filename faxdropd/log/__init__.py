"""Logging: structlog for our events, the stdlib bridge for everybody else's, redaction for all of it.

The same processors render structlog events (handed straight to the handler: ``lines.py``) and stdlib records
(zeep, urllib3, watchdog, pypdf; through ProcessorFormatter), so a journal line looks the same whoever wrote it:
JSON lines under systemd or when piped, console lines on a terminal.

Every event name, its level and its meaning are catalogued in ``events.py`` (a test keeps the code to it).

Common keys: ``job_id``, ``reference``, ``folder``, ``file`` (escaped), ``transaction_id``, ``code``,
``reason``, ``size``, ``pages``, ``sha256``. Never log document contents, base64 or the password: keys named
like a secret are masked, ``<Password>`` XML is scrubbed, and strings passed to :func:`register_secret` (in
their encodings: ``scrub.py``) are replaced by ``***`` wherever they appear in a rendered line.
"""

from __future__ import annotations

import functools
import http.client
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO, cast

import structlog
from structlog.processors import ExceptionRenderer
from structlog.tracebacks import ExceptionDictTransformer
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from faxdropd.log import journald
from faxdropd.log.lines import LineHandler, LineWriter
from faxdropd.log.scrub import MASK, MIN_SECRET_LENGTH, register_secret, scrub_text

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "configure",
    "escape_name",
    "get_logger",
    "register_secret",
    "scrub_text",
]

# Matched case-insensitively; also any key ending in "_password" / "_secret" / "_token".
SECRET_KEYS = frozenset({"password", "passwd", "secret", "token", "api_key", "authorization"})
FILENAME_KEYS = frozenset({"file", "name", "path", "src", "dest", "filename", "sidecar"})

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# Loggers that dump SOAP envelopes (password, base64 documents) or HTTP internals at DEBUG (tech.md §1.6).
_NOISY = ("zeep", "zeep.transports", "urllib3")
# Other people's loggers: held at `log.libraries` (default warning) whatever faxdropd's own level, so debugging
# faxdropd does not bury its events under watchdog's per-inotify-event lines or waitress's per-request ones.
LIBRARIES = ("watchdog", "urllib3", "zeep", "waitress", "asyncio", "requests", "charset_normalizer", "pypdf")


@functools.lru_cache(maxsize=4096)
def _secret_name(key: str) -> bool:
    k = key.lower()
    return k in SECRET_KEYS or k.endswith(("_password", "_secret", "_token"))


def _is_secret_key(key: object) -> bool:
    # Cached: a line has ~10 keys and they come from a small set; the cache bounds any that do not.
    return isinstance(key, str) and _secret_name(key)


# Values left as they are, looked up by exact type before any isinstance: most values of a line are these.
_PLAIN = frozenset({int, float, bool, type(None)})


def _redact(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"  # never render raw document bytes
    if isinstance(value, dict | Mapping):  # dict first: the ABC check is the slow one
        return {k: MASK if _is_secret_key(k) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact(v) for v in value]
    return value


def redact_processor(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Mask secret-named keys and scrub every string value (including rendered exceptions)."""
    # The line's own keys inline, as _redact's mapping branch does them: a line has about a dozen values, nearly
    # all strings and numbers, and a call of _redact for each was a fifth of a log line's cost.
    redacted: EventDict = {}
    for key, value in event_dict.items():
        if _is_secret_key(key):
            redacted[key] = MASK
        elif type(value) is str:
            redacted[key] = scrub_text(value)
        elif type(value) in _PLAIN:
            redacted[key] = value
        else:
            redacted[key] = _redact(value)
    return redacted


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_name(name: str) -> str:
    """repr-like escaping of a file name: ``\\n``, ``\\t``, control chars as ``\\xNN``, undecodable bytes too.

    Backslashes are doubled so an escaped name cannot be confused with a name containing a literal ``\\n``.
    Lone surrogates (``os.fsdecode`` of non-UTF-8 bytes) become ``\\xNN`` so a strict UTF-8 stream never
    raises UnicodeEncodeError in the middle of a log call.
    """
    if name.isprintable() and "\\" not in name:
        # Nothing to escape: every character the loop below rewrites is a backslash or is not printable
        # (controls, lone surrogates, U+2028/9), and most names are plain. A test holds the two to agreeing.
        return name
    out = []
    for ch in name:
        cp = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif cp < 0x20 or 0x7F <= cp < 0xA0:
            out.append(f"\\x{cp:02x}")
        elif 0xDC80 <= cp <= 0xDCFF:
            out.append(f"\\x{cp - 0xDC00:02x}")
        elif 0xD800 <= cp <= 0xDFFF or cp in (0x2028, 0x2029):
            out.append(f"\\u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def escape_filenames(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    for key in FILENAME_KEYS.intersection(event_dict):
        value = event_dict[key]
        if isinstance(value, str | os.PathLike):
            event_dict[key] = escape_name(os.fspath(value) if not isinstance(value, str) else value)
    return event_dict


class RedactingFilter(logging.Filter):
    """Handler filter for stdlib records: drops DEBUG from zeep/urllib3, scrubs the message text.

    The logger levels set in :func:`configure` already stop those records; this catches a library or a user
    lowering a child logger's level later (records then propagate straight to the root handler).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and record.name.startswith(_NOISY) and not _wire_debug():
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format: let logging report it as usual
            return True
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def _journal_priority(render: Processor) -> Processor:
    def prefixed(logger: WrappedLogger, method: str, event_dict: EventDict) -> str:
        level = str(event_dict.get("level", "info"))
        rendered = render(logger, method, event_dict)
        text = rendered.decode() if isinstance(rendered, bytes | bytearray) else str(rendered)
        return f"<{journald.PRIORITY.get(level, 6)}>{text}"  # journald strips it into PRIORITY

    return prefixed


def _scrub_rendered(logger: WrappedLogger, method: str, rendered: Any) -> Any:
    """Last line of defence on the final string (e.g. a secret split across keys by a renderer)."""
    return scrub_text(rendered) if isinstance(rendered, str) else rendered


def _under_journald(stream: TextIO) -> bool:
    """True when ``stream`` is the journal stream systemd set up (systemd.exec(5): compare dev:inode)."""
    spec = os.environ.get("JOURNAL_STREAM")
    if not spec:
        return False
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return True  # no descriptor to compare (a wrapped stream): trust the environment
    try:
        st, (dev, ino) = os.fstat(fd), (int(x) for x in spec.split(":", 1))
    except (OSError, ValueError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def _has_fd(stream: TextIO) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def configure(fmt: str = "auto", level: str = "info", stream: TextIO | None = None, libraries: str = "warning") -> None:
    """Set up structlog and the root stdlib logger. Safe to call again (reload, tests).

    ``fmt``: "json", "console" or "auto" (JSON unless ``stream`` is a TTY outside systemd).
    ``level``: debug/info/warning/error/critical. ``stream`` defaults to the current ``sys.stderr``.
    ``libraries``: the level of third-party loggers (``LIBRARIES``), never below ``level``.
    """
    fmt = fmt.lower()
    if fmt not in ("auto", "json", "console"):
        raise ValueError(f"log format must be auto, json or console, not {fmt!r}")
    try:
        levelno = _LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"log level must be one of {', '.join(_LEVELS)}, not {level!r}") from None
    out = stream if stream is not None else sys.stderr
    if fmt == "auto":
        systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
        fmt = "json" if systemd or not _isatty(out) else "console"
    under_journald = _under_journald(out)
    # Native fields only when stderr provably is the journal's stream (not merely trusted) and its socket exists.
    address = journald.journal_address() if under_journald and _has_fd(out) else None

    # job_id etc. also on zeep/pypdf records logged in the job (merge_contextvars).
    context: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
    ]
    stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
    own: list[Processor] = [*context, stamp]
    foreign: list[Processor] = [*context, structlog.stdlib.ExtraAdder(), stamp]  # a record's `extra` too
    render: Processor
    if fmt == "json":
        # show_locals=False: the default transformer renders frame locals, e.g. a `password` variable.
        exceptions: Processor = ExceptionRenderer(ExceptionDictTransformer(show_locals=False, max_frames=20))
        render = structlog.processors.JSONRenderer()
    else:
        # Render tracebacks as text *before* redaction; ConsoleRenderer's rich formatter would show locals.
        exceptions = structlog.processors.format_exc_info
        render = structlog.dev.ConsoleRenderer(
            # NO_COLOR (no-color.org): any non-empty value turns colours off, even on a terminal.
            colors=_isatty(out) and not under_journald and not os.environ.get("NO_COLOR"),
            exception_formatter=structlog.dev.plain_traceback,
        )
    if under_journald and address is None:
        render = _journal_priority(render)
    final: list[Processor] = [
        exceptions,
        escape_filenames,
        redact_processor,
        *([journald.capture] if address else []),
        render,
        _scrub_rendered,
    ]

    handler = journald.JournaldHandler(out, address) if address else LineHandler(out)
    # Our events: the chain renders the line and LineWriter hands it to the handler (lines.py says why).
    structlog.configure(
        processors=[*own, *final],
        logger_factory=functools.partial(LineWriter, handler),
        wrapper_class=structlog.make_filtering_bound_logger(levelno),
        cache_logger_on_first_use=False,  # later configure() calls (reload, tests) must take effect
    )
    # Everybody else's records: the same processors, through the standard library's formatter.
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final]
    )
    handler.setFormatter(formatter)
    handler.addFilter(RedactingFilter())
    handler._faxdropd = True  # type: ignore[attr-defined]  # marks ours for the next configure()

    # No line shows a caller's file and line, a thread or a process: the records need not look them up
    # (a frame walk and three calls per line; the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    # Replace only our previous handler: pytest's capture handlers (caplog) must survive.
    for old in [h for h in root.handlers if getattr(h, "_faxdropd", False)]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(levelno)
    wire = _wire_debug()
    try:
        library_level = max(levelno, _LEVELS[libraries.lower()])
    except KeyError:
        raise ValueError(f"log libraries must be one of {', '.join(_LEVELS)}, not {libraries!r}") from None
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(library_level)
    for name in _NOISY:  # SOAP envelopes and HTTP internals: never at debug unless on purpose (wire debug)
        logging.getLogger(name).setLevel(logging.DEBUG if wire else max(library_level, logging.INFO))
    if wire:
        _route_http_client_debug()


def _wire_debug() -> bool:
    """FAXDROPD_WIRE_DEBUG=1: log raw SOAP/HTTP traffic (scrubbed like any record); for diagnosis and the
    end-to-end redaction test, which needs the password on the wire and in reach of the log."""
    return os.environ.get("FAXDROPD_WIRE_DEBUG") == "1"


def _route_http_client_debug() -> None:
    # http.client writes its debug output with print(); sent to a logger it passes the scrubbing filter.
    wire_log = logging.getLogger("urllib3.wire")

    def to_log(*args: object, **_: object) -> None:
        wire_log.debug(" ".join(str(a) for a in args))

    http.client.print = to_log  # type: ignore[attr-defined]
    http.client.HTTPConnection.debuglevel = 1


def get_logger(name: str = "faxdropd", **initial: Any) -> FilteringBoundLogger:
    """A structlog logger whose records go through the chain set up by :func:`configure`."""
    return cast(FilteringBoundLogger, structlog.get_logger(name, **initial))
