"""`faxdropd send FILE… --to NUMBER…`: one fax outside the hot folders, with an upload progress bar."""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from faxdropd import codes, preflight, upload
from faxdropd.cli import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE
from faxdropd.commands import _load, start_embedded
from faxdropd.errors import AccountError, ConfigError, OutcomeUnknown, PermanentError, TransientError
from faxdropd.faxfields import sendfax_fields
from faxdropd.numbers import normalise
from faxdropd.soap import ClientFactory, InterfaxClient


def send_files(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    defaults = cfg.folders[0] if cfg.folders else None
    region = args.region or (defaults.region if defaults else "US")
    allow = [*(defaults.allow if defaults else ["+*"]), *(args.allow or [])]
    deny = defaults.deny if defaults else ["+1900*"]
    numbers: list[str] = []
    for raw in args.to:
        decision = normalise(raw, region, allow, deny)
        if not decision.ok or decision.e164 is None:
            print(f"faxdropd: refusing {raw!r}: {decision.reason}", file=sys.stderr)
            return EXIT_USAGE
        numbers.append(decision.e164)
    reference = f"fd-{uuid.uuid4().hex[:16]}"
    with ExitStack() as stack:
        try:
            start_embedded(cfg, stack, status_delay=3.0)
        except ConfigError as exc:
            print(f"faxdropd: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        from faxdropd.daemon import client_settings

        parts: list[upload.Part] = []
        for name in args.files:
            doc = Path(name)
            try:
                checked = stack.enter_context(
                    preflight.open_document(doc, doc.resolve().parent, max_pages=cfg.limits.pages_per_fax))
            except preflight.Rejected as exc:
                print(f"faxdropd: {name}: {exc.reason}", file=sys.stderr)
                return EXIT_FAIL
            parts.append(upload.Part(checked.file_type, checked.size, checked.read_chunks))
        options = defaults.fax.model_copy(update={"subject": args.subject}) if defaults else None
        if options is None:
            print("faxdropd: the config has no folder to take fax options from", file=sys.stderr)
            return EXIT_CONFIG
        fields = sendfax_fields(options, numbers=numbers, document_name=Path(args.files[0]).name,
                                folder_name="send", reference=reference, now=datetime.now(UTC))
        factory = ClientFactory(client_settings(cfg))
        client = factory.client()
        limits = upload.UploadLimits(cfg.interfax.chunk_size, cfg.interfax.inline_max_bytes)
        total = sum(p.size for p in parts)
        try:
            with Progress(TextColumn("uploading"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                          transient=False) as bar:
                task = bar.add_task("upload", total=total)
                tid = upload.submit(client, parts, fields, limits,
                                    progress=lambda done, _total: bar.update(task, completed=done))
        except OutcomeUnknown as exc:
            print(f"faxdropd: outcome unknown ({exc}); look for reference {reference} before resending",
                  file=sys.stderr)
            return EXIT_FAIL
        except (AccountError, PermanentError) as exc:
            print(f"faxdropd: {exc}", file=sys.stderr)
            return EXIT_FAIL
        except TransientError as exc:
            print(f"faxdropd: InterFAX unreachable: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        print(f"accepted: transaction {tid}, reference {reference}, to {', '.join(numbers)}")
        if not args.wait:
            return EXIT_OK
        return _wait(client, reference, fields["Subject"], len(numbers))


def _wait(client: InterfaxClient, reference: str, subject: object, expected: int) -> int:
    since = datetime.now(UTC).replace(microsecond=0)
    since = since.replace(hour=0, minute=0, second=0)
    interval = 10.0  # 6 status queries a minute is InterFAX's limit
    while True:
        try:
            items = [i for i in client.query_reference(str(subject), since) if reference in i.subject]
        except TransientError as exc:
            print(f"status query failed ({exc}); retrying", file=sys.stderr)
            items = []
        finals = [i for i in items if codes.is_final(i.status)]
        for item in items:
            print(f"  {item.transaction_id}: {codes.status_sentence(item.status)} ({item.status})")
        if items and len(finals) >= expected:
            failed = [i for i in finals if i.status > 0]
            print("delivered" if not failed else "failed")
            return EXIT_OK if not failed else EXIT_FAIL
        time.sleep(interval)
