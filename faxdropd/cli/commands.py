"""The subcommands behind `faxdropd`: each takes the parsed arguments and the config path, returns an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path

from faxdropd.cli.context import load_or_report, start_embedded
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import load_config
from faxdropd.config.interfax import TOO_SHORT
from faxdropd.errors import ConfigError, FaxdropError
from faxdropd.jobs.journal import EXIT_JOURNAL_FAILURE
from faxdropd.store.conn import DB_ERRORS


def run(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import log
    from faxdropd.daemon import collector
    from faxdropd.daemon.service import Daemon

    collector.tune()
    log.configure(cfg.log.format, cfg.log.level, libraries=cfg.log.libraries)
    for warning in cfg.warnings:
        log.get_logger().warning("config.warning", message=warning)
    with ExitStack() as stack:
        start_embedded(cfg, stack, store=cfg.state_dir / "emulator-store")
        try:
            return Daemon(cfg, path).run()
        except FaxdropError as exc:
            log.get_logger().critical("daemon.failed", error=str(exc))
            return EXIT_FAIL
        except DB_ERRORS as exc:  # the journal's server cannot be reached at start: systemd tries again
            log.get_logger().critical("daemon.failed", error=f"journal: {exc}")
            return EXIT_JOURNAL_FAILURE


def demo(args: argparse.Namespace, path: Path) -> int:
    from faxdropd.cli.demo import run_demo

    return run_demo(Path(args.dir), args.duration)


def check_config(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd.config import check_paths, render_routing_table
    from faxdropd.config.notify import summary as notify_summary

    print(f"{path}: OK")
    for warning in [*cfg.warnings, *check_paths(cfg)]:
        print(f"warning: {warning}")
    try:
        load_config(path)  # the password too, but only to say so: a credential may exist only in the service
    except ConfigError as exc:
        if TOO_SHORT in str(exc):  # readable, and refused: `run` would stop on it, so say so now
            print(f"{path}: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"note: the password is not readable here ({exc}); only `run` and `send` need it")
    print(render_routing_table(cfg))
    print(notify_summary(cfg))
    return EXIT_OK


def explain(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path, need_password=False)
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


def emulator(args: argparse.Namespace, path: Path) -> int:
    from faxdropd import log
    from faxdropd.emulator.server import serve_forever

    # To stderr, at info: a line per request (debug) would fill a pipe nobody reads and stall the emulator.
    log.configure("auto", "info")

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
