"""The subcommands behind `faxdropd`: each takes the parsed arguments and the config path, returns an exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faxdropd.cli.context import load_or_report, start_embedded
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import Config
from faxdropd.errors import FaxdropError
from faxdropd.files import names


def run(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import log
    from faxdropd.daemon.mainloop import Daemon

    log.configure(cfg.log.format, cfg.log.level)
    for warning in cfg.warnings:
        log.get_logger().warning("config.warning", message=warning)
    with ExitStack() as stack:
        start_embedded(cfg, stack, store=cfg.state_dir / "emulator-store")
        try:
            return Daemon(cfg, path).run()
        except FaxdropError as exc:
            log.get_logger().critical("daemon.failed", error=str(exc))
            return EXIT_FAIL


def demo(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.cli.demo import run_demo

    return run_demo(Path(args.dir), args.duration)


def check_config(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.config import check_paths, render_routing_table
    from faxdropd.config.notify import summary as notify_summary

    print(f"{path}: OK")
    for warning in [*cfg.warnings, *check_paths(cfg)]:
        print(f"warning: {warning}")
    print(render_routing_table(cfg))
    print(notify_summary(cfg))
    return EXIT_OK


def explain(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.cli.explain import explain_file

    file = Path(args.file)
    if not os.path.lexists(file):
        print(f"faxdropd: {file}: no such file", file=sys.stderr)
        return EXIT_FAIL
    try:
        lines, code = explain_file(cfg, file)
    except OSError as exc:  # e.g. the file vanished meanwhile (the daemon claimed it), or no permission
        print(f"faxdropd: {file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    print("\n".join(lines))
    return code


def send(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.cli.send import send_files

    return send_files(args, path)


def status(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    import sqlite3

    from faxdropd.jobs.schema import journal_path

    db = journal_path(cfg.state_dir)
    if not db.exists():
        print(f"faxdropd: no journal at {db}: the daemon has not run with this state_dir yet", file=sys.stderr)
        return EXIT_FAIL
    try:
        report = _status_report(cfg.state_dir)
    except (sqlite3.Error, OSError) as exc:
        print(f"faxdropd: cannot read the journal {db}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    _print_status(report)
    return EXIT_OK


def _status_report(state_dir: Path) -> dict[str, Any]:
    """Everything `status` shows, read from the journal read-only: no lock, so it works beside the daemon."""
    from faxdropd.jobs.journal import Journal, State

    journal = Journal(state_dir, read_only=True)
    try:
        now = time.time()
        counts = journal.counts()
        oldest = journal.oldest_pending()
        in_flight = journal.by_state(State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.UNKNOWN)
        failures = journal.recent((State.FAILED, State.REJECTED), 10)
        until = float(journal.get_meta("paused_until") or 0)
        paused = journal.get_meta("paused_reason") if until > now else None
        outbox = journal.outbox_backlog()
    finally:
        journal.close()
    return {
        "states": counts,
        "total": sum(counts.values()),
        "paused": paused,
        "paused_until": datetime.fromtimestamp(until, UTC).isoformat() if paused else None,
        "oldest_pending_age_s": round(now - oldest, 1) if oldest else None,
        "notifications": outbox,
        "in_flight": [
            {
                "job_id": j.id,
                "file": j.name,
                "folder": j.folder,
                "state": str(j.state),
                "age_s": round(now - j.created_at, 1),
                "transaction_ids": j.transaction_ids,
            }
            for j in in_flight
        ],
        "recent_failures": [
            {
                "job_id": j.id,
                "file": j.name,
                "folder": j.folder,
                "outcome": j.outcome,
                "status": j.status,
                "reason": j.reason,
                "filed": j.final_path,
                "at": datetime.fromtimestamp(j.updated_at, UTC).isoformat(),
            }
            for j in failures
        ],
    }


def _print_status(report: dict[str, Any]) -> None:
    states = report["states"]
    print("jobs by state: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"))
    if report["paused"]:
        print(f"SENDING PAUSED until {report['paused_until']}: {report['paused']}")
    if report["oldest_pending_age_s"] is not None:
        print(f"oldest pending job: {report['oldest_pending_age_s']} s old")
    print(f"in flight: {len(report['in_flight'])}")
    if report["notifications"]:
        print("notifications: " + ", ".join(f"{k} {v}" for k, v in sorted(report["notifications"].items())))
    for item in report["in_flight"]:
        print(f"  {item['state']:<10} {item['age_s']:>8} s  {item['folder']}/{item['file']}  {item['transaction_ids']}")
    if report["recent_failures"]:
        print("recent failures:")
        for item in report["recent_failures"]:
            print(f"  {item['at'][:19]}  {item['outcome']:<8} {item['folder']}/{item['file']}: {item['reason']}")


def _failed_owner(cfg: Config, doc: Path) -> Path | None:
    """The hot folder whose failed/ holds `doc`; the receipt's folder name decides if failed/ is shared."""
    owners = [f for f in cfg.folders if os.path.realpath(f.failed) == str(doc.parent)]
    if len(owners) > 1:
        with suppress(OSError, ValueError):
            named = json.loads(names.receipt_path(doc).read_text()).get("folder")
            owners = [f for f in owners if f.name == named] or owners
    return owners[0].path if owners else None


def retry(args: argparse.Namespace, path: Path) -> int:
    if not args.paths and not args.all_failed:
        print("faxdropd retry: name failed documents (PATH...) or give --all-failed", file=sys.stderr)
        return EXIT_USAGE
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.files import filing

    targets: dict[Path, Path] = {}  # document -> its hot folder; a dict so a path named twice moves once
    for raw in args.paths:
        given = Path(raw).absolute()
        if given.name.endswith(names.RECEIPT_SUFFIX):  # tab completion often lands on the receipt
            given = names.document_of(given)
        # Resolve the directory only: the document itself may be a symlink that was filed as rejected.
        doc = Path(os.path.realpath(given.parent)) / given.name
        hot = _failed_owner(cfg, doc)
        if hot is None or names.is_sidecar(given.name):
            print(f"faxdropd: {raw} is not a document in any folder's failed/ directory", file=sys.stderr)
            return EXIT_USAGE
        if not os.path.lexists(doc):
            print(f"faxdropd: {raw}: no such document", file=sys.stderr)
            return EXIT_FAIL
        targets[doc] = hot
    if args.all_failed:
        for folder in cfg.folders:
            for doc in _failed_documents(folder.failed):
                targets.setdefault(Path(os.path.realpath(doc.parent)) / doc.name, folder.path)
    if not targets:
        print("no failed documents to retry")
        return EXIT_OK
    code = EXIT_OK
    for doc, hot in targets.items():
        try:
            back = filing.requeue(doc, hot)
        except OSError as exc:  # one document gone or unmovable must not stop the others
            print(f"faxdropd: cannot requeue {doc}: {exc}", file=sys.stderr)
            code = EXIT_FAIL
            continue
        print(f"requeued {doc} -> {back}")
    return code


def _failed_documents(failed: Path) -> list[Path]:
    """Documents in a failed/ directory: no receipts, sidecars, temp/dot files; symlinks would only be
    rejected again, so --all-failed leaves them (name one explicitly to retry it anyway)."""
    if not failed.is_dir():
        return []
    return [
        p
        for p in sorted(failed.iterdir())
        if not p.name.startswith(".")
        and not p.name.endswith(names.RECEIPT_SUFFIX)
        and not names.is_sidecar(p.name)
        and not p.is_symlink()
        and p.is_file()
    ]


def emulator(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.emulator.server import serve_forever

    if bool(args.tls_cert) != bool(args.tls_key):
        print("faxdropd emulator: --tls-cert and --tls-key go together", file=sys.stderr)
        return EXIT_USAGE
    try:
        serve_forever(
            args.host,
            args.port,
            Path(args.store) if args.store else None,
            args.username,
            args.password,
            args.status_delay,
            Path(args.tls_cert) if args.tls_cert else None,
            Path(args.tls_key) if args.tls_key else None,
        )
    except OSError as exc:  # port taken, address not local, unreadable certificate: one line, no traceback
        print(f"faxdropd emulator: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def utc_now() -> datetime:
    return datetime.now(UTC)
