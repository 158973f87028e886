"""The subcommands behind `faxdropd`: each takes the parsed arguments and the config path, returns an exit code."""

from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faxdropd.cli import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import Config, load_config
from faxdropd.errors import ConfigError, FaxdropError


def _load(path: Path) -> Config | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"faxdropd: configuration error in {path}:\n{exc}", file=sys.stderr)
        return None


def start_embedded(cfg: Config, stack: ExitStack, store: Path | None = None, status_delay: float = 3.0) -> None:
    """`url: embedded`: start the built-in emulator on loopback and point the client at it."""
    if cfg.interfax.url != "embedded":
        return
    from faxdropd.emulator_http import EmulatorServer

    server = EmulatorServer(
        username=cfg.interfax.username,
        password=cfg.interfax.password.get_secret_value(),
        store=store,
        status_delay=status_delay,
    ).start()
    stack.callback(server.stop)
    cfg.interfax.url = server.url


def run(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import log
    from faxdropd.daemon import Daemon

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
    from faxdropd.demo import run_demo

    return run_demo(Path(args.dir), args.duration)


def check_config(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.config import check_paths, render_routing_table

    print(f"{path}: OK")
    for warning in [*cfg.warnings, *check_paths(cfg)]:
        print(f"warning: {warning}")
    print(render_routing_table(cfg))
    return EXIT_OK


def explain(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.explain import explain_file

    lines, code = explain_file(cfg, Path(args.file))
    print("\n".join(lines))
    return code


def send(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.sendcmd import send_files

    return send_files(args, path)


def status(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.journal import Journal, State

    db = cfg.state_dir / "journal.sqlite3"
    if not db.exists():
        print(f"no journal yet at {db}", file=sys.stderr)
        return EXIT_FAIL
    journal = Journal(cfg.state_dir, read_only=True)
    now = time.time()
    counts = journal.counts()
    oldest = journal.oldest_pending()
    in_flight = journal.by_state(State.UPLOADING, State.SUBMITTING, State.SUBMITTED, State.UNKNOWN)
    failures = journal.recent((State.FAILED, State.REJECTED), 10)
    report: dict[str, Any] = {
        "states": counts,
        "paused": journal.get_meta("paused_reason") if float(journal.get_meta("paused_until") or 0) > now else None,
        "oldest_pending_age_s": round(now - oldest, 1) if oldest else None,
        "in_flight": [{"job_id": j.id, "file": j.name, "folder": j.folder, "state": str(j.state),
                       "age_s": round(now - j.updated_at, 1), "transaction_ids": j.transaction_ids}
                      for j in in_flight],
        "recent_failures": [{"job_id": j.id, "file": j.name, "folder": j.folder, "outcome": j.outcome,
                             "status": j.status, "reason": j.reason, "filed": j.final_path} for j in failures],
    }
    journal.close()
    if args.json:
        print(json.dumps(report, indent=2))
        return EXIT_OK
    print("jobs by state: " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    if report["paused"]:
        print(f"SENDING PAUSED: {report['paused']}")
    if oldest:
        print(f"oldest pending job: {report['oldest_pending_age_s']} s")
    for item in report["in_flight"]:
        print(f"  {item['state']:<10} {item['age_s']:>8} s  {item['folder']}/{item['file']}  {item['transaction_ids']}")
    if failures:
        print("recent failures:")
        for item in report["recent_failures"]:
            print(f"  {item['outcome']:<8} {item['folder']}/{item['file']}: {item['reason']}")
    return EXIT_OK


def retry(args: argparse.Namespace, path: Path) -> int:
    cfg = _load(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import filing

    targets: list[tuple[Path, Path]] = []
    for folder in cfg.folders:
        if args.all_failed and folder.failed.is_dir():
            targets += [(p, folder.path) for p in sorted(folder.failed.iterdir())
                        if p.is_file() and not p.name.endswith((".receipt.json", ".fax.yaml"))]
    for raw in args.paths:
        doc = Path(raw).resolve()
        owner = next((f for f in cfg.folders if f.failed.resolve() == doc.parent), None)
        if owner is None:
            print(f"faxdropd: {raw} is not in any folder's failed/ directory", file=sys.stderr)
            return EXIT_USAGE
        targets.append((doc, owner.path))
    if not targets:
        print("nothing to retry", file=sys.stderr)
        return EXIT_USAGE
    for doc, hot in targets:
        back = filing.requeue(doc, hot)
        print(f"requeued {doc} -> {back}")
    return EXIT_OK


def emulator(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.emulator_http import serve_forever

    serve_forever(args.host, args.port, Path(args.store) if args.store else None, args.username,
                  args.password, args.status_delay,
                  Path(args.tls_cert) if args.tls_cert else None, Path(args.tls_key) if args.tls_key else None)
    return EXIT_OK


def utc_now() -> datetime:
    return datetime.now(UTC)
