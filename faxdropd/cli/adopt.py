"""`faxdropd adopt INSTANCE [--force]`: take a dead peer's work areas over, on this host.

The command only moves: one atomic rename per hot folder, into this instance's area. This host's daemon
(which owns the journal) reconciles and finishes the adopted documents on its next pass, or at its next start
if it is not running; the command never writes to the journal, so it is safe beside the running daemon.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.config import INSTANCE_RE
from faxdropd.files import workarea
from faxdropd.jobs import adoption, instances
from faxdropd.jobs.opening import journal_exists, open_journal


def adopt(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    peer: str = args.instance
    if not INSTANCE_RE.fullmatch(peer):
        print(f"faxdropd adopt: {peer!r} is not an instance name", file=sys.stderr)
        return EXIT_USAGE
    if not journal_exists(cfg):
        print(f"faxdropd adopt: no journal in {cfg.state_dir}: start this host's daemon once first", file=sys.stderr)
        return EXIT_FAIL
    journal = open_journal(cfg, read_only=True)
    try:
        me = instances.stored_instance(journal, cfg)
    finally:
        journal.close()
    if peer == me:
        print(f"faxdropd adopt: {peer} is this host", file=sys.stderr)
        return EXIT_USAGE
    areas = [f.path for f in cfg.folders if workarea.instance_dir(f.path, peer).is_dir()]
    if not areas:
        print(f"faxdropd adopt: {peer} has no work area in any configured folder", file=sys.stderr)
        return EXIT_FAIL
    now = time.time()
    recent = [(hot, now - adoption.last_seen(workarea.instance_dir(hot, peer))) for hot in areas]
    alive = [(hot, age) for hot, age in recent if age < cfg.peer_timeout]
    if alive and not args.force:
        for hot, age in alive:
            print(f"faxdropd adopt: {peer} was active in {hot} {age:.0f}s ago", file=sys.stderr)
        print(
            f"faxdropd adopt: refusing: {peer} looks alive (peer_timeout is {cfg.peer_timeout:g}s); "
            "stop it for good, then wait or use --force",
            file=sys.stderr,
        )
        return EXIT_FAIL
    for hot in areas:
        dest = adoption.move_area(hot, peer, me)
        print(f"adopted {workarea.instance_dir(hot, peer)} -> {dest}")
    print(f"{me}'s daemon reconciles and finishes the adopted documents (at its next start if it is not running)")
    return EXIT_OK
