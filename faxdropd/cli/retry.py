"""`faxdropd retry`: failed documents back into their hot folder, filtered by reason and age."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import parse_duration
from faxdropd.config.durations import plural
from faxdropd.files import names
from faxdropd.ops import retry as ops


def retry(args: argparse.Namespace, path: Path) -> int:
    if not args.paths and not args.all_failed:
        print("faxdropd retry: name failed documents (PATH...) or give --all-failed", file=sys.stderr)
        return EXIT_USAGE
    try:
        pattern = re.compile(args.reason) if args.reason else None
        since = parse_duration(args.since) if args.since else None
    except (re.error, ValueError) as exc:
        print(f"faxdropd retry: {exc}", file=sys.stderr)
        return EXIT_USAGE
    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    targets: dict[Path, ops.Candidate] = {}  # by document, so a path named twice moves once
    for raw in args.paths:
        given = Path(raw).absolute()
        if given.name.endswith(names.RECEIPT_SUFFIX):  # tab completion often lands on the receipt
            given = names.document_of(given)
        # Resolve the directory only: the document itself may be a symlink that was filed as rejected.
        doc = Path(os.path.realpath(given.parent)) / given.name
        found = None if names.is_sidecar(given.name) else ops.candidate(cfg, doc)
        if found is None:
            print(f"faxdropd: {raw} is not a document in any folder's failed/ directory", file=sys.stderr)
            return EXIT_USAGE
        if not os.path.lexists(doc):
            print(f"faxdropd: {raw}: no such document", file=sys.stderr)
            return EXIT_FAIL
        targets[doc] = found
    if args.all_failed:
        for folder in cfg.folders:
            for doc in ops.failed_documents(folder.failed):
                real = Path(os.path.realpath(doc.parent)) / doc.name
                if real not in targets and (found := ops.candidate(cfg, real)) is not None:
                    targets[real] = found
    now = time.time()
    chosen = []
    for c in targets.values():
        why = ops.skip_reason(c, reason=pattern, since=since, force=args.force, now=now)
        if why is None:
            chosen.append(c)
        elif c.certain_repeat and (pattern is None or pattern.search(c.reason)):
            print(f"skipped {c.document}: {why}")
    if not chosen:
        print("no failed documents to retry")
        return EXIT_OK
    if args.dry_run:
        for c in chosen:
            print(f"would requeue {c.document} -> {c.hot}")
        print(f"dry run: {plural(len(chosen), 'document')} would be retried")
        return EXIT_OK
    code = EXIT_OK
    for c in chosen:
        try:
            back = ops.requeue(c)
        except OSError as exc:  # one document gone or unmovable must not stop the others
            print(f"faxdropd: cannot requeue {c.document}: {exc}", file=sys.stderr)
            code = EXIT_FAIL
            continue
        print(f"requeued {c.document} -> {back}")
    return code
