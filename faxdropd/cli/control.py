"""`faxdropd hold|release|cancel`: the operator's commands, applied by the daemon or, when it is stopped, here.

Only cancelling a fax already at InterFAX with the daemon stopped needs the password; everything else reads
the config without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import Config, load_config
from faxdropd.errors import ConfigError
from faxdropd.jobs.journal import FINAL
from faxdropd.ops import control
from faxdropd.ops.apply import FOLDER_PREFIX
from faxdropd.ops.journal import NoJournal, reading
from faxdropd.ops.show import find_jobs
from faxdropd.store.conn import DB_ERRORS

# No journal yet, or one the database cannot read: a message and exit status, never a traceback.
_CANNOT_READ: tuple[type[Exception], ...] = (NoJournal, *DB_ERRORS)


def handle(args: argparse.Namespace, path: Path) -> int:
    verb = args.command
    folders = getattr(args, "folder", None) or []
    if not args.jobs and not folders:
        print(f"faxdropd {verb}: name jobs (JOB...) or folders (--folder NAME)", file=sys.stderr)
        return EXIT_USAGE
    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    from faxdropd import log

    log.configure("console", "warning")  # the finisher's log lines, when the command files a job itself
    try:
        targets, code = _targets(cfg, args.jobs)
        targets += [FOLDER_PREFIX + name for name in folders]
        if not targets:
            return code
        running, results = control.request(cfg, verb, targets, args.reason, cancel_fax=lambda: _cancel_fax(path))
    except _CANNOT_READ as exc:
        print(f"faxdropd {verb}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    for result in results:
        if result.ok:
            print(result.message)
        else:
            print(f"faxdropd {verb}: {result.target}: {result.message}", file=sys.stderr)
            code = EXIT_FAIL
    if not running:
        print("(the daemon is not running: applied directly to the journal)")
    return code


def _targets(cfg: Config, given: list[str]) -> tuple[list[str], int]:
    """Job ids for what the operator named (an id, a reference, a file name); the newest unfinished wins."""
    found: list[str] = []
    code = EXIT_OK
    with reading(cfg) as journal:
        for name in given:
            jobs = find_jobs(journal, name)
            live = [j for j in jobs if j.state not in FINAL]
            if live or jobs:
                found.append((live or jobs)[0].id)
            else:
                print(f"faxdropd: no job is named by {name!r}", file=sys.stderr)
                code = EXIT_FAIL
    return list(dict.fromkeys(found)), code


def _cancel_fax(path: Path) -> Callable[[int], None] | None:
    """CancelFax with the config's credentials, for a submitted fax while the daemon is stopped; None without."""
    try:
        cfg = load_config(path)
    except ConfigError:
        return None
    if cfg.interfax.embedded:
        return None  # the embedded emulator lives and dies with the daemon
    from faxdropd.daemon.wiring import client_settings
    from faxdropd.interfax.client import ClientFactory

    factory = ClientFactory(client_settings(cfg))
    return lambda tid: factory.client().cancel_fax(tid)
