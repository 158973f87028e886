"""`faxdropd send FILE… --to NUMBER…`: one fax outside the hot folders, with an upload progress bar."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from faxdropd.cli.context import load_or_report, start_embedded
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from faxdropd.config import Config, FolderConfig
from faxdropd.document import preflight
from faxdropd.document.faxnumbers import normalise
from faxdropd.errors import (
    AccountError,
    ConfigError,
    InterfaxError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    Rejected,
    TransientError,
)
from faxdropd.interfax import codes, upload
from faxdropd.interfax.client import ClientFactory, FaxItem, InterfaxClient
from faxdropd.interfax.faxfields import sendfax_fields
from faxdropd.interfax.ratelimit import QueryBudget

# InterFAX allows 6 status queries a minute per user; --wait stays inside that on its own.
FIRST_CHECK = 1.0  # most faxes to a simulator or a busy-free line settle quickly: look early, then back off
MAX_INTERVAL = 30.0


def _err(message: str) -> None:
    print(f"faxdropd: {message}", file=sys.stderr)


def _numbers(args: argparse.Namespace, defaults: FolderConfig | None) -> list[str] | str:
    """E.164 numbers from --to, judged by the first folder's allow/deny plus --allow; or why one is refused."""
    region = args.region or (defaults.region if defaults else "US")
    allow = [*(defaults.allow if defaults else ["+*"]), *(args.allow or [])]
    deny = list(defaults.deny) if defaults else ["+1900*"]
    numbers: list[str] = []
    for raw in args.to:
        decision = normalise(raw, region, allow, deny)
        if not decision.ok or decision.e164 is None:
            return f"refusing {raw!r}: {decision.reason}"
        if decision.e164 not in numbers:  # the same number twice would fax it twice
            numbers.append(decision.e164)
    return numbers


def send_files(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import log

    # The SOAP layer logs every call and urllib3 every reconnect; this command reports failures itself.
    log.configure("console" if cfg.log.format == "auto" else cfg.log.format, "error")
    defaults = cfg.folders[0] if cfg.folders else None
    if defaults is None:
        _err("the config has no folder to take fax options from")
        return EXIT_CONFIG
    numbers = _numbers(args, defaults)
    if isinstance(numbers, str):
        _err(numbers)
        return EXIT_USAGE
    with ExitStack() as stack:
        parts: list[upload.Part] = []
        for name in args.files:
            doc = Path(name).absolute()
            try:
                checked = stack.enter_context(
                    preflight.open_document(doc, doc.parent, max_pages=cfg.limits.pages_per_fax)
                )
            except Rejected as exc:
                _err(f"{name}: {exc.reason}")
                return EXIT_FAIL
            except OSError as exc:  # missing file, unreadable directory: say so instead of a traceback
                _err(f"{name}: {exc.strerror or exc}")
                return EXIT_FAIL
            parts.append(upload.Part(checked.file_type, checked.size, checked.read_chunks))
        try:
            start_embedded(cfg, stack, status_delay=3.0)
        except ConfigError as exc:
            _err(str(exc))
            return EXIT_CONFIG
        return _submit(cfg, defaults, args, parts, numbers)


def _submit(
    cfg: Config, defaults: FolderConfig, args: argparse.Namespace, parts: list[upload.Part], numbers: list[str]
) -> int:
    from faxdropd.daemon.wiring import client_settings

    reference = f"fd-{uuid.uuid4().hex[:16]}"
    options = defaults.fax.model_copy(update={"subject": args.subject})
    fields = sendfax_fields(
        options,
        numbers=numbers,
        document_name=Path(args.files[0]).name,
        folder_name="send",
        reference=reference,
        now=datetime.now(UTC),
    )
    client = ClientFactory(client_settings(cfg)).client()
    limits = upload.UploadLimits(cfg.interfax.chunk_size, cfg.interfax.inline_max_bytes)
    total = sum(p.size for p in parts)
    # FaxQuery2's window starts before the submission, with room for a clock that runs ahead of InterFAX's.
    since = datetime.now(UTC) - timedelta(hours=1)
    try:
        if upload.is_inline(parts, limits.inline_max_bytes):
            tid = upload.submit(client, parts, fields, limits)  # one request: nothing to show progress of
        else:
            tid = _chunked(client, parts, fields, limits, total)
    except OutcomeUnknown as exc:
        _err(f"outcome unknown ({exc}); look for reference {reference} before resending")
        return EXIT_FAIL
    except (AccountError, PermanentError) as exc:
        _err(str(exc))
        return EXIT_FAIL
    except TransientError as exc:
        _err(f"InterFAX unreachable: {exc}")
        return EXIT_UNAVAILABLE
    except Rejected as exc:  # a document changed between pre-flight and upload
        _err(exc.reason)
        return EXIT_FAIL
    print(f"accepted: transaction {tid}, reference {reference}, to {', '.join(numbers)}", flush=True)
    if not args.wait:
        return EXIT_OK
    per_minute = cfg.delivery.query_limit_per_minute
    return _wait(client, reference, str(fields["Subject"]), len(numbers), since, per_minute)


def _chunked(
    client: InterfaxClient, parts: list[upload.Part], fields: dict[str, object], limits: upload.UploadLimits, total: int
) -> int:
    # stderr: stdout keeps only the result lines a script may parse.
    console = Console(stderr=True)
    with Progress(
        TextColumn("uploading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(), console=console, transient=False
    ) as bar:
        task = bar.add_task("upload", total=total)
        return upload.submit(
            client, parts, fields, limits, progress=lambda done, _total: bar.update(task, completed=done)
        )


class QueryPacer:
    """When `send --wait`'s next status query may go out: FIRST_CHECK, then doubling up to MAX_INTERVAL, and
    always within the account's status-query budget, counted as the daemon's tracker counts it."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._budget = QueryBudget(per_minute)
        self._interval = FIRST_CHECK
        self._last = clock()

    def delay(self) -> float:
        now = self._clock()
        return max(0.0, self._last + self._interval - now, self._budget.free_at(now) - now)

    def sent(self, *, rate_limited: bool = False) -> None:
        now = self._clock()
        # Counted from the reply, as the tracker counts; delay() kept a slot free, so it always fits.
        self._budget.take(now)
        self._last = now
        self._interval = MAX_INTERVAL if rate_limited else min(self._interval * 2, MAX_INTERVAL)


def _wait(
    client: InterfaxClient,
    reference: str,
    subject: str,
    expected: int,
    since: datetime,
    per_minute: int,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    pacer = QueryPacer(per_minute)
    shown: dict[int, int] = {}
    while True:
        sleep(pacer.delay())
        try:
            items = [i for i in client.query_reference(subject, since) if reference in i.subject]
        except RateLimited as exc:
            pacer.sent(rate_limited=True)  # someone else (the daemon?) shares the account's budget
            print(f"status query refused ({exc}); waiting longer", file=sys.stderr)
            continue
        except TransientError as exc:
            pacer.sent()
            print(f"status query failed ({exc}); retrying", file=sys.stderr)
            continue
        except InterfaxError as exc:
            _err(f"cannot follow the fax: {exc}; look for reference {reference}")
            return EXIT_FAIL
        pacer.sent()
        _show(items, shown)
        finals = [i for i in items if codes.is_final(i.status)]
        if items and len(finals) >= expected:
            failed = [i for i in finals if i.status != 0]
            print("failed" if failed else "delivered", flush=True)
            return EXIT_FAIL if failed else EXIT_OK


def _show(items: Sequence[FaxItem], shown: dict[int, int]) -> None:
    """Print each transaction's status when it changes, not on every poll."""
    for item in items:
        if shown.get(item.transaction_id) != item.status:
            shown[item.transaction_id] = item.status
            print(f"  {item.transaction_id}: {codes.status_sentence(item.status)} ({item.status})", flush=True)
