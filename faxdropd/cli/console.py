"""`faxdropd queue` and `faxdropd show`: what waits, and one job's story. Read-only; no password needed."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faxdropd.cli.context import load_or_report, place_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK
from faxdropd.config.durations import format_duration, plural
from faxdropd.jobs.outbox import Backlog
from faxdropd.ops.journal import NoJournal, daemon_state, reading
from faxdropd.ops.show import JobHistory, find_jobs, history
from faxdropd.store.conn import DB_ERRORS

if TYPE_CHECKING:
    from faxdropd.jobs.leases import InstanceView

# No journal yet, or one the database cannot read: a message and exit status, never a traceback.
_CANNOT_READ: tuple[type[Exception], ...] = (NoJournal, *DB_ERRORS)


def utc(epoch: float | None) -> str:
    """Every time the console prints: UTC, to the second, one format."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if epoch else "-"


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z") if epoch else None


def print_instances(instances: list[InstanceView]) -> None:
    """A shared journal's hosts (`status` and `queue`); nothing for SQLite, where there is one."""
    if instances:
        print(f"instances on the shared journal: {len(instances)}")
    for i in instances:
        renewed = f"renewed {format_duration(i.renewed_s_ago)} ago"
        print(f"  {i.id:<24} {i.host} (pid {i.pid})  {renewed}, {plural(i.jobs, 'job')} owned")


def queue(args: argparse.Namespace, path: Path) -> int:
    # Deferred: `show` shares this module and needs neither the hot-folder listing nor the hosts' leases.
    from faxdropd.jobs import leases
    from faxdropd.ops.queue import read_queue

    cfg = load_or_report(path, need_password=False)
    if cfg is None:
        return EXIT_CONFIG
    if args.folder and args.folder not in {f.name for f in cfg.folders}:
        print(f"faxdropd queue: no folder named {args.folder!r} in {path}", file=sys.stderr)
        return EXIT_FAIL
    running = daemon_state(cfg.state_dir).running
    try:
        with reading(cfg) as journal:
            found = read_queue(cfg, journal, daemon_running=running, folder=args.folder, state=args.state)
            hosts = leases.overview(journal) if journal.shared else []
    except _CANNOT_READ as exc:
        print(f"faxdropd queue: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        from faxdropd.jsontext import pretty

        items: list[dict[str, Any]] = []
        for job in found.jobs:
            items.append({"kind": "job", **_fields(job), "next_attempt_at": _iso(job.next_attempt_at)})
        for n in found.notifications:  # after the jobs, with their keys: a reader of jobs only skips by `kind`
            note = {"kind": "notification", "reference": None, "held": False, **_fields(n)}
            items.append({**note, "next_attempt_at": _iso(n.next_attempt_at)})
        print(pretty(items))
        return EXIT_OK
    if not running:
        print("(the daemon is not running)")
    print_instances(hosts)
    print(f"{plural(len(found.jobs), 'job')} not final")
    for j in found.jobs:
        held = f" HELD ({j.hold_reason})" if j.held and j.hold_reason else " HELD" if j.held else ""
        nxt = f", next attempt {utc(j.next_attempt_at)}" if j.next_attempt_at else ""
        reason = f": {j.reason}" if j.reason else ""
        print(
            f"  {j.job_id}  {j.state:<10} {format_duration(j.age_seconds):>7}  {j.folder}/{j.file}  "
            f"-> {', '.join(j.to) or '?'}{held}{reason}{nxt}"
        )
    if args.state is None:
        print(f"{plural(len(found.waiting), 'file')} waiting in hot folders")
        for w in found.waiting:
            print(f"  {w.folder}/{w.file}  {format_duration(w.age_seconds)} old: {w.why}")
        print(notifications_line(found.backlog, time.time()))
        for n in found.notifications:
            about = f"{n.folder}/{n.file}" if n.file else n.folder or "account"
            nxt = f", next attempt {utc(n.next_attempt_at)}" if n.next_attempt_at else ""
            tried = f", {plural(n.attempts, 'attempt')}: {n.reason}" if n.attempts else ""
            print(
                f"  {n.notification_id[:12]}  {n.state:<8} {format_duration(n.age_seconds):>7}  {n.event} {about}  "
                f"{n.channel} -> {', '.join(n.to)}{tried}{nxt}"
            )
    return EXIT_OK


def _fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields by name, one level deep: ``dataclasses.asdict`` copies every list recursively,
    which cost `queue --json` more than reading the jobs, and ``dataclasses.fields`` per record was the next
    cost. The records are plain dataclasses (no slots), so their ``__dict__`` holds exactly the fields."""
    return dict(vars(record))


def notifications_line(backlog: Backlog, now: float) -> str:
    """One line for `status` and `queue`: the outbox's backlog."""
    oldest = backlog.oldest_pending_at
    since = f" (oldest {format_duration(now - oldest)})" if oldest is not None else ""
    return f"notifications: {backlog.pending} pending{since}, {backlog.given_up} given up, {backlog.sent} sent"


def show(args: argparse.Namespace, path: Path) -> int:
    cfg = place_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    try:
        with reading(cfg) as journal:
            jobs = find_jobs(journal, args.job)
            if not jobs:
                print(f"faxdropd show: no job is named by {args.job!r}", file=sys.stderr)
                return EXIT_FAIL
            story = history(journal, jobs[0])
    except _CANNOT_READ as exc:
        print(f"faxdropd show: {exc}", file=sys.stderr)
        return EXIT_FAIL
    if args.json:
        from faxdropd.jsontext import pretty

        print(pretty(as_json(story)))
        return EXIT_OK
    if len(jobs) > 1:
        print(
            f"({plural(len(jobs), 'job')} named {args.job}; the newest is shown: {', '.join(j.id for j in jobs[1:])})"
        )
    _print_story(story)
    return EXIT_OK


def as_json(story: JobHistory) -> dict[str, Any]:
    job = story.job
    data: dict[str, Any] = {
        "job_id": job.id,
        **{k: v for k, v in dataclasses.asdict(job).items() if k != "id"},
        "state": str(job.state),
        "outcome": str(job.outcome) if job.outcome is not None else None,
        "held": story.held,
        "events": [{"at": _iso(e.at), "state": e.state, "note": e.note} for e in story.events],
        "receipt": story.receipt,
    }
    for key in ("created_at", "updated_at", "submitted_at", "completed_at", "next_attempt_at"):
        data[key] = _iso(data[key])
    return data


def _print_story(story: JobHistory) -> None:
    job = story.job
    print(f"job {job.id}  reference {job.reference}")
    print(f"  file      {job.folder}/{job.name}")
    print(f"  to        {', '.join(job.numbers) or '?'}")
    print(f"  state     {job.state}{' (HELD)' if story.held else ''}")
    if job.outcome is not None:
        print(f"  outcome   {job.outcome}{f' (status {job.status})' if job.status is not None else ''}")
    if job.reason:
        print(f"  reason    {job.reason}")
    if job.transaction_ids:
        print(f"  InterFAX  transaction {', '.join(str(t) for t in job.transaction_ids)}")
    if job.final_path:
        print(f"  filed     {job.final_path}")
    print("history:")
    for e in story.events:
        print(f"  {utc(e.at)}  {e.state:<10} {e.note}")
    if story.receipt is not None:
        print("receipt:")
        for key, value in story.receipt.items():
            if value not in (None, [], {}):
                print(f"  {key}: {value}")
