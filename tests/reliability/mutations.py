"""Mutation checks: break one guarantee on purpose in a copy of the package and see whether its tests notice.

Each mutation is a small textual patch (a search/replace that must match exactly once, or the run fails loudly, so a
refactoring cannot turn a mutation into a silent no-op) applied to a copy of faxdropd/ and tests/ in a temporary
directory. The tests named for it then run against that copy, with PYTHONPATH pointing at it so that the daemon
subprocesses the tests start import the mutated package too. A mutation is caught when at least one of its tests
fails (pytest exit 1); anything else (all pass, nothing collected, an internal error, a timeout) is not caught.

    python tests/reliability/mutations.py [--list] [--only NAME ...] [--write FILE] [--json] [--timeout S]

Prints a markdown table (mutation, tests run, caught, time) and exits 1 unless every mutation run was caught.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Patch:
    file: str  # relative to the repository root
    old: str
    new: str


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    patches: tuple[Patch, ...]
    tests: tuple[str, ...]
    skip: str | None = None  # why it cannot run on this code yet
    env: dict[str, str] = field(default_factory=dict)


PIPELINE = "faxdropd/jobs/pipeline.py"
FILING = "faxdropd/files/filing.py"
POWER_LOSS = "tests/reliability/test_power_loss.py::test_power_cuts_during_a_busy_run_lose_and_double_nothing"
SOAK = "tests/reliability/test_crash_soak.py::test_sigkill_soak"
# A lost document leaves its job retrying for the retry lifetime: the run is not quiescent, and that failure need
# not wait the default 600 s. A passing power-loss run quiesces in well under a minute.
QUICK_QUIESCE = {"FAXDROPD_QUIESCE_TIMEOUT": "240"}
SQLITE = "faxdropd/store/sqlite.py"
# Both places that set FULL: at the start, and after a transaction that ran at NORMAL (Journal.mark).
SYNCHRONOUS_OFF = (
    Patch(
        SQLITE,
        'execute("PRAGMA journal_mode=WAL")\n        self._db.execute("PRAGMA synchronous=FULL")',
        'execute("PRAGMA journal_mode=WAL")\n        self._db.execute("PRAGMA synchronous=OFF")',
    ),
    Patch(
        SQLITE,
        '            self._lowered = False\n            self._db.execute("PRAGMA synchronous=FULL")',
        '            self._lowered = False\n            self._db.execute("PRAGMA synchronous=OFF")',
    ),
)
READY_AT_ONCE = Patch(
    "faxdropd/watch/stability.py",
    "            if entry.seen >= self._target(entry):\n                entry.reported = now",
    "            if True:\n                entry.reported = now",
)
LOOKS_COMPLETE = Patch(
    "faxdropd/document/completeness.py", "    return check_bytes(head, tail, real)\n", '    return ""\n'
)
MUTATIONS = (
    Mutation(
        "resend_on_lost_reply",
        "a SendfaxEx_2 whose reply was lost (OutcomeUnknown) is retried like a transient error",
        (
            Patch(
                PIPELINE,
                "        except OutcomeUnknown as exc:\n",
                "        except OutcomeUnknown as exc:\n"
                "            self.retry_later(job, str(exc))\n"
                "            return\n",
            ),
        ),
        ("tests/test_delivery.py::test_lost_reply_is_reconciled_and_sent_exactly_once",),
    ),
    Mutation(
        "follow_symlinks",
        "documents are opened without O_NOFOLLOW, so a planted symlink is followed",
        (
            Patch(
                "faxdropd/document/preflight.py",
                "os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK",
                "os.O_RDONLY | os.O_NONBLOCK",
            ),
        ),
        ("tests/test_preflight.py::test_symlink_is_refused_and_its_target_never_opened",),
    ),
    Mutation(
        "ready_on_first_sighting",
        "a file is ready the first time it is seen, however recently it changed",
        (READY_AT_ONCE,),
        ("tests/test_stability.py::test_ready_needs_two_equal_observations_stable_seconds_apart",),
    ),
    Mutation(
        "redaction_removed",
        "the log scrubber and the structured redaction pass everything through",
        (
            Patch(
                "faxdropd/log/scrub.py",
                "    return pattern.sub(MASK, text) if pattern is not None else text",
                "    return text",
            ),
            Patch("faxdropd/log/__init__.py", "    return redacted\n", "    return event_dict\n"),
            Patch("faxdropd/log/scrub.py", '    if "assword" in text or "ASSWORD" in text:', "    if False:"),
        ),
        ("tests/test_log.py", "tests/reliability/test_secrets.py", "tests/reliability/test_wire_redaction.py"),
    ),
    Mutation(
        "synchronous_off",
        "the journal commits without fsync (PRAGMA synchronous=OFF)",
        SYNCHRONOUS_OFF,
        ("tests/reliability/test_power_loss.py::test_the_journal_commits_with_synchronous_full",),
    ),
    Mutation(
        "synchronous_off_under_power_cuts",
        "the same, judged by the power-loss run alone: what a lost commit does to the files",
        SYNCHRONOUS_OFF,
        (POWER_LOSS,),
        env=QUICK_QUIESCE,
    ),
    Mutation(
        "mixed_batch_not_durable",
        "a group commit holding a durable change and a mark (Journal.mark) commits without an fsync",
        (Patch("faxdropd/jobs/journal.py", "durable=any(pending.durable", "durable=all(pending.durable"),),
        ("tests/test_journal.py::test_a_batch_waits_for_the_disk_when_any_of_its_writers_must",),
    ),
    Mutation(
        "no_submitting_before_chunked_send",
        "a chunked job goes from UPLOADING to SendfaxEx_2 without journaling SUBMITTING first",
        (Patch(PIPELINE, "            if job.state is not State.SUBMITTING:\n", "            if False:\n"),),
        # The soak as well: its after_send kills on chunked jobs then find no `submitting` job.
        ("tests/reliability/test_crash_points.py::test_kill_at_every_persistence_point[after_send]", SOAK),
    ),
    Mutation(
        "no_dir_fsync_after_claim",
        "the claim renames are journaled without fsyncing the hot folder and the work area first",
        (Patch("faxdropd/jobs/intake.py", "    filing.sync_dirs(touched)\n", ""),),
        (POWER_LOSS,),
        env=QUICK_QUIESCE,
    ),
    Mutation(
        "no_dir_fsync_before_filed",
        "a batch of filed documents is journaled final without fsyncing sent/ and the work area first",
        (Patch("faxdropd/jobs/finish.py", "        filing.sync_dirs(touched)\n", ""),),
        (POWER_LOSS,),
        env=QUICK_QUIESCE,
    ),
    Mutation(
        "unbounded_sends",
        "every worker thread sends at once: twice the faxes with InterFAX that `workers` allows",
        (
            Patch(
                PIPELINE,
                "        self.slots = SendSlots(rt.config.workers)\n",
                "        self.slots = SendSlots(rt.config.workers * 2)\n",
            ),
        ),
        ("tests/test_sending.py::test_one_worker_sends_one_fax_at_a_time_and_checks_the_next_meanwhile",),
    ),
    Mutation(
        "release_other_instances_work",
        "a starting daemon gives back to the hot folder a work file another instance is processing",
        (
            Patch(
                "faxdropd/files/workarea.py",
                "        entries = list(os.scandir(area))\n",
                # The 0.1 behaviour: every instance's area is searched for orphans, not only this one's.
                "        entries = [e for d in os.scandir(hot / WORK_DIR) if d.is_dir() and not d.name.startswith"
                "(('retried', 'adopted')) for e in os.scandir(d.path)]\n",
            ),
        ),
        ("tests/reliability/test_multihost.py::test_peers_restart_while_others_hold_work",),
    ),
    Mutation(
        "skip_duplicate_window",
        "the duplicate-window check never finds an earlier send",
        (
            Patch(
                PIPELINE,
                "        window = self.rt.config.limits.duplicate_window\n",
                "        window = 0 * self.rt.config.limits.duplicate_window\n",
            ),
        ),
        ("tests/test_policy_daemon.py::test_duplicate_is_held_then_retry_sends_it_on_purpose_once",),
    ),
    Mutation(
        "failed_filed_to_sent",
        "a job that ended failed is filed into sent/",
        (
            Patch(
                "faxdropd/jobs/finish.py",
                "dest_dir = sent if job.outcome.succeeded else failed",
                "dest_dir = sent",
            ),
        ),
        ("tests/test_delivery.py::test_busy_number_lands_in_failed_with_its_status",),
    ),
    Mutation(
        "no_reconcile_before_resend",
        "a submission whose outcome is unknown is sent again without asking FaxQuery2 for its reference first",
        (
            Patch(
                "faxdropd/jobs/tracker.py",
                "                items = self._ask(functools.partial(self._lookup, client, job))\n",
                "                items = []  # as if InterFAX had been asked and knew nothing\n",
            ),
        ),
        # The soak as well: its after_send kills leave accepted faxes `unknown`, which this resends.
        ("tests/test_delivery.py::test_lost_reply_is_reconciled_and_sent_exactly_once", SOAK),
    ),
    Mutation(
        "receipt_after_move",
        "filing moves the document into sent/ first and writes its receipt after; a crash between the two "
        "leaves a filed document that no receipt names (the crash point marks the gap between the two writes)",
        (
            Patch(
                FILING,
                "            if not _write_receipt(receipt_path(final), receipt, tag):\n"
                "                final = None  # another filer reserved the name between our look and our link\n"
                "                continue\n"
                '        crashpoints.hit("after_receipt", name)',
                '        pass  # crashpoints.hit("after_receipt", name) moves below',
            ),
            Patch(
                FILING,
                "        if _place(work_path, final, tag):\n",
                "        if _place(work_path, final, tag):\n"
                '            crashpoints.hit("after_receipt", name)\n'
                "            _write_receipt(receipt_path(final), receipt, tag)\n",
            ),
        ),
        ("tests/reliability/test_crash_points.py::test_kill_at_every_persistence_point[after_receipt]",),
    ),
    Mutation(
        "network_fs_not_polled",
        "watch: auto trusts inotify on every filesystem, so files written on the far side of a share go unseen",
        (
            Patch(
                "faxdropd/watch/mounts.py",
                "    if fstype in NETWORK_FS_TYPES:\n        return True\n"
                '    return (fstype == "fuse" or fstype.startswith("fuse.")) and fstype not in LOCAL_FUSE_TYPES\n',
                "    return False\n",
            ),
        ),
        ("tests/reliability/test_share_sshfs.py::test_auto_polls_an_sshfs_hot_folder",),
    ),
    Mutation(
        "incomplete_content_accepted",
        "the content check never says a file looks unfinished (no %%EOF, a zero tail), only the stability wait",
        (LOOKS_COMPLETE,),
        ("tests/test_daemon_incomplete.py",),
    ),
    Mutation(
        "restart_resends_submitting",
        "a restart during SendfaxEx_2 sends the job again instead of reconciling it as unknown",
        (
            Patch(
                "faxdropd/jobs/recovery.py",
                "    elif job.state is State.SUBMITTING:\n",
                "    elif job.state is State.SUBMITTING:\n"
                '        return journal.transition(job, State.CLAIMED, f"{cause}: send again")\n'
                "    elif False:\n",
            ),
        ),
        # The soak first (a share of its restarts die at before_send/after_send, issue #14), so that this run shows
        # it catching the resend; the crash point aimed at one job stays as the second catcher.
        (SOAK, "tests/reliability/test_crash_points.py::test_kill_at_every_persistence_point[after_send]"),
    ),
    Mutation(
        "half_written_file_ready",
        "both guards against a half-written file removed (the stability wait and the content check; either one "
        "alone keeps SMB drops whole), judged by the share rows",
        (READY_AT_ONCE, LOOKS_COMPLETE),
        ("tests/reliability/test_share_smb_drops.py::test_every_smb_drop_style_is_delivered_once_and_whole",),
    ),
)


@dataclass
class Result:
    name: str
    tests: tuple[str, ...]
    caught: bool | None  # None: skipped
    seconds: float
    detail: str


def apply(copy: Path, patches: tuple[Patch, ...]) -> None:
    for patch in patches:
        path = copy / patch.file
        text = path.read_text()
        found = text.count(patch.old)
        if found != 1:
            raise SystemExit(f"mutation patch for {patch.file} matches {found} times, not once:\n{patch.old}")
        path.write_text(text.replace(patch.old, patch.new))


def make_copy(into: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("faxdropd", "tests"):
        shutil.copytree(ROOT / name, into / name, ignore=ignore)
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")


def run(mutation: Mutation, timeout: float) -> Result:
    if mutation.skip is not None:
        return Result(mutation.name, mutation.tests, None, 0.0, mutation.skip)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mutation.name}-") as tmp:
        copy = Path(tmp)
        make_copy(copy)
        apply(copy, mutation.patches)
        env = {**os.environ, **mutation.env, "PYTHONPATH": f"{copy}{os.pathsep}{copy / 'tests'}"}
        env.pop("FAXDROPD_CRASH_AT", None)
        origin = subprocess.run(
            [sys.executable, "-c", "import faxdropd; print(faxdropd.__file__)"],
            cwd=copy, env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if not origin.startswith(str(copy)):
            raise SystemExit(f"the mutated copy is not what gets imported: faxdropd from {origin}")
        command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *mutation.tests]
        try:
            done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Result(mutation.name, mutation.tests, False, time.monotonic() - started, f"timeout after {timeout}s")
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1] if lines else done.stderr.strip()[-200:]
    # What the failing test said, so the table shows a mutation caught for its reason and not by accident.
    said = next((line[1:].strip() for line in lines if line.startswith("E ")), "")
    summary = f"{summary}: {said[:200]}" if said else summary
    return Result(mutation.name, mutation.tests, done.returncode == 1, time.monotonic() - started, summary)


def table(results: list[Result]) -> str:
    rows = ["| mutation | tests run | caught | time | how |", "|---|---|---|---|---|"]
    for r in results:
        caught = "skipped: " + r.detail if r.caught is None else ("yes" if r.caught else "**no**")
        detail = "" if r.caught is None else r.detail.replace("|", "\\|")
        tests = "<br>".join(f"`{t}`" for t in r.tests) or "-"
        rows.append(f"| `{r.name}` | {tests} | {caught} | {r.seconds:.0f} s | {detail} |")
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--list", action="store_true", help="list the mutations and exit")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this mutation")
    parser.add_argument("--write", type=Path, metavar="FILE", help="also write the table to FILE")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of the table")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per mutation before it is not caught")
    args = parser.parse_args(argv)
    if args.list:
        for m in MUTATIONS:
            print(f"{m.name}: {m.what}" + (f" (skipped: {m.skip})" if m.skip else ""))
        return 0
    unknown = set(args.only) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutation(s): {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    started = time.monotonic()
    results: list[Result] = []
    for mutation in chosen:
        results.append(run(mutation, args.timeout))
        print(f"{mutation.name}: caught={results[-1].caught} ({results[-1].seconds:.0f} s)", file=sys.stderr)
    text = table(results) + f"\nTotal: {time.monotonic() - started:.0f} s\n"
    if args.json:
        print(json.dumps([vars(r) for r in results], indent=2))
    else:
        print(text, end="")
    if args.write:
        args.write.write_text(text)
    return 0 if all(r.caught is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
