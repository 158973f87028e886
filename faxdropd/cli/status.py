"""`faxdropd status`: the journal's summary; exit 0 all well, 1 degraded, 3 cannot tell (monitoring checks)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from faxdropd.cli.console import notifications_line, print_instances
from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_DEGRADED, EXIT_OK, EXIT_UNKNOWN
from faxdropd.config.durations import format_duration, plural
from faxdropd.ops.journal import NoJournal, daemon_state, reading
from faxdropd.ops.status import Status, as_dict, read_status
from faxdropd.store.conn import WRITE_ERRORS


def status(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    try:
        with reading(cfg) as journal:
            report = read_status(cfg, journal, daemon_state(cfg.state_dir))
    except NoJournal as exc:
        print(f"faxdropd: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    except WRITE_ERRORS as exc:
        print(f"faxdropd: cannot read the journal in {cfg.state_dir}: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    if args.json:
        from faxdropd.jsontext import pretty

        print(pretty(as_dict(report)))
    else:
        _print(report, as_dict(report))
    return EXIT_DEGRADED if report.degraded else EXIT_OK


def _print(report: Status, data: dict[str, Any]) -> None:
    d = report.daemon
    if d.running:
        since = datetime.fromtimestamp(d.since or 0, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        up = format_duration(report.now - (d.since or report.now))
        print(f"daemon: running (pid {d.pid or '?'}) since {since}, {up}")
    else:
        print("daemon: not running")
    states = data["states"]
    print("jobs by state: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"))
    holds = report.holds
    if holds:
        folders = f" ({', '.join(sorted(holds.folders))})" if holds.folders else ""
        print(f"HELD: {plural(len(holds.jobs), 'job')}, {plural(len(holds.folders), 'folder')}{folders}")
    if report.paused:
        print(f"SENDING PAUSED until {data['paused_until']}: {report.paused}")
    for problem in report.degraded:
        print(f"degraded: {problem}")
    if report.oldest_pending is not None:
        print(f"oldest pending job: {format_duration(report.now - report.oldest_pending)} old")
    stored = data["journal"]
    print(f"journal: {stored['size_bytes'] / 1e6:.1f} MB, oldest job kept {stored['oldest_job'] or '-'}")
    print_instances(report.instances)
    print(f"in flight: {len(report.in_flight)}")
    print(notifications_line(report.notifications, report.now))
    for item in data["in_flight"]:
        age = format_duration(item["age_s"])
        print(f"  {item['state']:<10} {age:>8}  {item['folder']}/{item['file']}  {item['transaction_ids']}")
    if data["recent_failures"]:
        print("recent failures:")
        for item in data["recent_failures"]:
            print(f"  {item['at'][:19]}  {item['outcome']:<8} {item['folder']}/{item['file']}: {item['reason']}")
