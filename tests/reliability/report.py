"""Generate docs/RELIABILITY.md from a reliability run: nothing measured is typed by hand.

    python tests/reliability/report.py [--run] [--no-mutations] [--from LOG] [--write FILE]

With --run it runs the reliability suite (and the mutation checks) and captures their output; with --from
it reads a saved log instead. Every ``FIGURE {json}`` line becomes a table row (one table per ``test``
kind, columns from the JSON keys, so new figures appear without code changes); the pytest summary line and
the mutation JSON (a list printed by ``mutations.py --json``) are rendered as they were measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-m", "reliability", "-q", "-s", "-p", "no:cacheprovider"]
MUTATIONS = [sys.executable, "tests/reliability/mutations.py", "--json"]
_SUMMARY = re.compile(r"^=*\s*((?:\d+ \w+(?:, )?)+) in [\d.]+s")
_COUNT = re.compile(r"(\d+) (\w+)")

# Describes what each kind of test does and what would turn it red; it is prose about the tests, not a
# measurement, so it may live here.
EXPLAIN: dict[str, str] = {
    "crash_points": "The daemon is SIGKILLed at each persistence point (`FAXDROPD_CRASH_AT=point:1:file=NAME`), "
    "aimed at one job per path (inline, chunked, broadcast, cover page), then restarted. Red when any input is "
    "lost, submitted twice, or a point never fires on a path it should.",
    "crash_points_untracked": "The same with delivery tracking off, where a worker commits the outcome at "
    "submission and the daemon's filing thread files the document: killed at each point from the submission to "
    "the final commit, then restarted. Red when any input is lost, submitted twice, or a point never fires.",
    "power_loss": "State dir and a hot folder live on powerfs (a FUSE filesystem keeping only fsync'd data and "
    "directory entries); at random moments of a busy run the daemon is killed and power cut, the filesystem "
    "remounted and the daemon restarted. Red on any lost input, duplicate submission or failed "
    "`integrity_check`, or when the cuts dropped nothing.",
    "crash_soak": "Files of every size are dropped while the daemon is SIGKILLed at random intervals (the seed "
    "is printed); a seeded quarter of the restarts is armed with a crash point inside the send (`before_send`, "
    "`after_send`). `kills_in_send` counts the kills that left a job journaled `submitting`, `kills_after_accept` "
    "those where the emulator already had that job's fax. Red unless every file is delivered and submitted "
    "exactly once, or when no kill landed inside a send after InterFAX accepted it.",
    "notify_soak": "Documents that deliver, fail and are rejected arrive while the daemon is SIGKILLed every "
    "0.3-2 s (the seed is printed), with e-mail (aiosmtpd, STARTTLS + AUTH) and signed webhook notifications on. "
    "Red when an outcome is not mailed and posted, when one outcome makes two notifications, when a duplicate "
    "delivery differs from the first or there are more duplicates than kills, or on any fax lost or sent twice.",
    "share": "Files arrive over a network share (SMB/sshfs) while the daemon watches it. Red on a partial file "
    "submitted, a lost file or a duplicate.",
    "wire_redaction": "The real daemon runs with debug logging and zeep/urllib3/http.client wire debugging, so "
    "the password is in the SOAP bodies it logs. Red on any hit of the password (plain, base64, URL-encoded, "
    "XML-escaped) in its output, state dir or folders, or when no wire traffic was logged.",
    "pg_hosts": "Two and three daemons (own state_dir and instance each) watch one hot folder and journal in one "
    "real PostgreSQL database (tests/kit/pg.py). Red when a file is lost, a reference is submitted twice, or "
    "one host did all the work.",
    "pg_kill": "One host with faxes in flight is SIGKILLed at a crash point (chunked upload, before and after "
    "SendfaxEx_2, while tracking); the survivor takes the jobs over when their leases expire (journal_lease "
    "3s). Red on a lost file or any reference submitted twice (a blind resend of an `after_send` job).",
    "pg_outage": "The PostgreSQL server is stopped (immediate) for longer than two leases under two busy hosts, "
    "which exit 74 and are restarted once it is back. Red on a lost file or a duplicate submission.",
    "pg_budget": "150 faxes stay in flight on two hosts of one account; the emulator enforces 6 FaxQuery a "
    "minute. Red when any sliding minute holds more than 6 status queries or the emulator answers -1011.",
    "mutations_ci": "The CI subset of the mutation checks. Red when any deliberate breakage is not caught.",
    "mutations": "Each mutation applies one deliberate breakage to a copy of the package and runs the tests "
    "named for it; it is caught when one of them fails. Every mutation must be caught.",
}

# How the figures are obtained (true of tests/reliability/invariants.py:check and rig.py today).
METHOD = """Every figure comes from the real daemon (a subprocess sent real signals), the InterFAX emulator (a real
HTTP server on 127.0.0.1) and real folders. After each scenario `tests/reliability/invariants.py` checks: every
input is in exactly one of `sent/` or `failed/` (by the sha256 of the filed bytes), with a receipt naming the
same sha256 and a distinct job reference; the emulator saw at most one SendfaxEx_2 per job reference, no
content more often than it was dropped, and exactly one submission per receipt saying the fax was accepted;
no claimed file is left in a work area and nothing in a hot folder; the journal passes
`PRAGMA integrity_check` and holds no unfinished job. `test_the_invariant_check_can_fail` shows the check
catches a lost input, a leftover work file and a double send."""


@dataclass
class Parsed:
    figures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    summary: dict[str, int] = field(default_factory=dict)
    mutations: list[dict[str, Any]] = field(default_factory=list)


def _mutation_json(text: str) -> list[dict[str, Any]]:
    """The last JSON list in the text whose items name a mutation."""
    found: list[dict[str, Any]] = []
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\[", text, re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, list) and all(isinstance(v, dict) and "name" in v for v in value):
            found = value
    return found


def parse(text: str) -> Parsed:
    parsed = Parsed()
    decoder = json.JSONDecoder()
    for raw in text.splitlines():
        line = raw.strip()
        at = line.find("FIGURE {")
        if at >= 0:
            try:
                # The JSON alone: print() writes the line and its newline apart, so another thread's output (an
                # in-process emulator's request line) can land right after it, on the same line.
                figure, _ = decoder.raw_decode(line, at + len("FIGURE "))
            except ValueError:
                continue
            if isinstance(figure, dict):
                parsed.figures.setdefault(str(figure.get("test", "other")), []).append(figure)
            continue
        summary = _SUMMARY.match(line)
        if summary:
            # Several pytest runs in one log (e.g. per-file CI jobs) add up.
            for n, word in _COUNT.findall(summary.group(1)):
                parsed.summary[word] = parsed.summary.get(word, 0) + int(n)
    parsed.mutations = _mutation_json(text)
    return parsed


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return (
            "<br>".join(_cell(v) for v in value)
            if value and not isinstance(value[0], str)
            else ", ".join(f"`{v}`" if "/" in str(v) else str(v) for v in value)
        )
    if value is None:
        return "skipped"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict[str, Any]], skip: tuple[str, ...] = ("test",)) -> str:
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in skip and k not in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def _mutation_rows(mutations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "mutation": f"`{m['name']}`",
            "tests run": list(m.get("tests", [])),
            "caught": m.get("caught"),
            "seconds": round(float(m.get("seconds", 0))),
            "how": m.get("detail", ""),
        }
        for m in mutations
    ]


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def machine() -> str:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError):
        memory = "unknown memory"
    return f"{os.cpu_count()} CPUs, {memory}, Linux {platform.release()}, Python {platform.python_version()}"


def render(parsed: Parsed, command: str, when: datetime.datetime, commit: str, host: str) -> str:
    out = [
        "# Reliability and security: measured",
        "",
        "Generated by `tests/reliability/report.py`; do not edit by hand.",
        "",
        f"- date: {when.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- commit: `{commit}`",
        f"- machine: {host}",
        f"- command: `{command}`",
    ]
    if parsed.summary:
        counts = ", ".join(f"{n} {word}" for word, n in parsed.summary.items())
        out.append(f"- pytest: {counts}")
    out += ["", "## Method", "", METHOD]
    for kind, rows in sorted(parsed.figures.items()):
        out += ["", f"## {kind.replace('_', ' ')}", "", table(rows)]
        if kind in EXPLAIN:
            out += ["", EXPLAIN[kind]]
    if parsed.mutations:
        caught = sum(1 for m in parsed.mutations if m.get("caught"))
        out += ["", "## mutations", "", f"{caught} of {len(parsed.mutations)} caught.", ""]
        out += [table(_mutation_rows(parsed.mutations), skip=()), "", EXPLAIN["mutations"]]
    return "\n".join(out) + "\n"


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--run", action="store_true", help="run the reliability suite and capture its output")
    parser.add_argument("--no-mutations", action="store_true", help="with --run, skip mutations.py")
    parser.add_argument("--from", dest="source", type=Path, help="read a saved log instead of running")
    parser.add_argument("--write", type=Path, help="write the markdown here (default: stdout)")
    args = parser.parse_args(argv)
    if not args.run and not args.source:
        parser.error("give --run or --from LOG")
    text = args.source.read_text() if args.source else ""
    commands = [" ".join(["python", *PYTEST[1:]])]
    if args.run:
        text += _run(PYTEST)
        if not args.no_mutations:
            text += "\n" + _run(MUTATIONS)
            commands.append("python tests/reliability/mutations.py --json")
    command = " && ".join(commands) if args.run else f"(from {args.source})"
    commit = _git("rev-parse", "--short", "HEAD") + (" + uncommitted changes" if _git("status", "--porcelain") else "")
    markdown = render(parse(text), command, datetime.datetime.now(datetime.UTC), commit, machine())
    if args.write:
        args.write.write_text(markdown)
    else:
        sys.stdout.write(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
