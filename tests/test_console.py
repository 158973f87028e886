"""The operator's console (queue, show, hold, release, cancel, status, retry) run as subprocesses against a real
daemon, a real journal and the emulator as a real HTTP server: while the daemon runs, while it is stopped,
across a crash between a command and its effect, and with the InterFAX password out of reach."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemonkit import PASSWORD, DaemonProcess, documents, drop, receipts, wait_for, write_config
from kit.journals import JournalBackend
from test_cli import cli, ledger
from test_service import NotifySocket

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer

NUMBER = "+12125550100"
QUEUE_KEYS = {
    "job_id",
    "reference",
    "state",
    "folder",
    "file",
    "to",
    "age_seconds",
    "reason",
    "next_attempt_at",
    "held",
}


@pytest.fixture
def hot(tmp_path: Path) -> Path:
    folder = tmp_path / "hot"
    folder.mkdir()
    return folder


@pytest.fixture
def start(tmp_path: Path, daemons: list[DaemonProcess]) -> Iterator[Callable[..., DaemonProcess]]:
    def run(cfg: Path, **env: str) -> DaemonProcess:
        d = DaemonProcess(cfg, tmp_path / "daemon.log", env=env)
        daemons.append(d)
        return d.start()

    yield run


def config(tmp_path: Path, url: str, hot: Path, backend: JournalBackend | None = None) -> Path:
    extra = backend.config_extra() if backend else None
    return write_config(tmp_path, url, [{"path": str(hot), "name": "hot", "to": NUMBER}], extra=extra)


def queue(cfg: Path, *args: str) -> list[dict[str, Any]]:
    proc = cli(cfg, "queue", "--json", *args)
    assert proc.returncode == 0, proc.stderr
    found: list[dict[str, Any]] = json.loads(proc.stdout)
    return found


def by_file(cfg: Path) -> dict[str, dict[str, Any]]:
    return {j["file"]: j for j in queue(cfg)}


def submitted(emulator: EmulatorServer) -> list[str]:
    return [s["sha256"] for s in ledger(emulator)["submissions"]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def held_jobs(cfg: Path, count: int) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        jobs = by_file(cfg)
        return jobs if len(jobs) == count and all(j["held"] for j in jobs.values()) else None

    found: dict[str, dict[str, Any]] = wait_for(ready, 60, interval=0.2, what=f"{count} held jobs")
    return found


def test_concurrent_commands_and_the_systemd_status_line(
    tmp_path: Path, hot: Path, emulator: EmulatorServer, daemons: list[DaemonProcess]
) -> None:
    cfg = config(tmp_path, emulator.url, hot)
    notify = NotifySocket()
    try:
        d = DaemonProcess(cfg, tmp_path / "daemon.log", env={"NOTIFY_SOCKET": notify.path})
        daemons.append(d)
        d.start()
        # Several commands at once beside the daemon's own writes: each gets its answer, none is locked out.
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "faxdropd", "hold", "-c", str(cfg), "--folder", "hot", "--reason", f"r{n}"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(6)
        ]
        outputs = [p.communicate(timeout=60) for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, outputs
        assert all("held folder hot" in out for out, _ in outputs)
        status = json.loads(cli(cfg, "status", "--json").stdout)
        assert status["held_folders"] == ["hot"]
        wait_for(
            lambda: any("HELD: 0 jobs, 1 folder (hot)" in line for line in notify.lines()),
            10,
            what="the hold on the systemd status line",
        )
        assert d.stop() == 0
    finally:
        notify.close()


def test_hold_and_release_of_a_folder_and_a_job_while_faxes_flow(
    tmp_path: Path,
    hot: Path,
    emulator: EmulatorServer,
    start: Callable[..., DaemonProcess],
    journal_backend: JournalBackend,
) -> None:
    cfg = config(tmp_path, emulator.url, hot, journal_backend)
    d = start(cfg)
    held = cli(cfg, "hold", "--folder", "hot", "--reason", "paper jam")
    assert held.returncode == 0 and "held folder hot" in held.stdout, held.stderr
    a, b = make_sample_pdf(text="a"), make_sample_pdf(text="b")
    drop(hot, "a.pdf", a)
    drop(hot, "b.pdf", b)
    jobs = held_jobs(cfg, 2)
    # Claimed, not routed yet: queue shows the numbers routing would choose now.
    assert all(set(j) >= QUEUE_KEYS and j["state"] == "claimed" and j["to"] == [NUMBER] for j in jobs.values())
    text = cli(cfg, "queue")
    assert "2 jobs not final" in text.stdout and "HELD (paper jam)" in text.stdout
    status = cli(cfg, "status", "--json")
    assert json.loads(status.stdout)["held_folders"] == ["hot"]
    assert json.loads(status.stdout)["daemon"]["running"] is True
    assert submitted(emulator) == []  # held: nothing reached InterFAX

    hold_b = cli(cfg, "hold", jobs["b.pdf"]["job_id"])
    assert hold_b.returncode == 0 and "held job" in hold_b.stdout, hold_b.stderr
    released = cli(cfg, "release", "--folder", "hot")
    assert released.returncode == 0 and "released folder hot" in released.stdout, released.stderr
    wait_for(lambda: receipts(hot / "sent"), 60, what="a delivered")
    assert submitted(emulator) == [sha(a)]  # b is held on its own
    assert by_file(cfg)["b.pdf"]["held"] is True
    assert d.stop() == 0

    # Stopped: queue and show read the journal, release takes effect directly in it.
    stopped = by_file(cfg)
    assert list(stopped) == ["b.pdf"] and stopped["b.pdf"]["held"] is True
    shown = cli(cfg, "show", "b.pdf", "--json")
    assert shown.returncode == 0, shown.stderr
    story = json.loads(shown.stdout)
    assert story["job_id"] == jobs["b.pdf"]["job_id"] and story["held"] is True
    assert story["events"][0]["state"] == "claimed" and any("held" in e["note"] for e in story["events"])
    offline = cli(cfg, "release", "b.pdf")
    assert offline.returncode == 0 and "not running" in offline.stdout, offline.stderr
    d.start()
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="b delivered after its release")
    assert sorted(submitted(emulator)) == sorted([sha(a), sha(b)])
    delivered = json.loads(cli(cfg, "show", str(hot / "sent" / "b.pdf"), "--json").stdout)
    assert delivered["state"] == "delivered" and delivered["receipt"]["outcome"] == "delivered"
    assert delivered["transaction_ids"] and "released by operator" in [e["note"] for e in delivered["events"]]
    assert d.stop() == 0


def test_cancel_before_and_after_submission(tmp_path: Path, hot: Path, start: Callable[..., DaemonProcess]) -> None:
    # Faxes stay in progress for a minute, so the submitted one is still cancellable.
    with EmulatorServer(username="demo", password=PASSWORD, status_delay=60) as slow:
        cfg = config(tmp_path, slow.url, hot)
        d = start(cfg)
        assert cli(cfg, "hold", "--folder", "hot").returncode == 0
        early = make_sample_pdf(text="early")
        drop(hot, "early.pdf", early)
        job = held_jobs(cfg, 1)["early.pdf"]
        cancel = cli(cfg, "cancel", job["job_id"], "--reason", "wrong document")
        assert cancel.returncode == 0 and "cancelled job" in cancel.stdout, cancel.stderr
        wait_for(lambda: receipts(hot / "failed"), 30, what="the cancelled job filed")
        [receipt] = receipts(hot / "failed")
        assert receipt["reason"] == "cancelled by operator: wrong document" and receipt["outcome"] == "failed"
        assert (hot / "failed" / "early.pdf").read_bytes() == early  # never loses the document
        assert submitted(slow) == []

        assert cli(cfg, "release", "--folder", "hot").returncode == 0
        drop(hot, "late.pdf", make_sample_pdf(text="late"))
        wait_for(lambda: any(j["state"] == "submitted" for j in queue(cfg)), 60, what="late.pdf submitted")
        [late] = queue(cfg)
        cancel = cli(cfg, "cancel", "late.pdf")
        assert cancel.returncode == 0 and "at InterFAX" in cancel.stdout, cancel.stderr
        assert [c["op"] for c in ledger(slow)["calls"]].count("CancelFax") == 1
        wait_for(lambda: len(receipts(hot / "failed")) == 2, 60, what="the cancelled fax filed by its final status")
        filed = json.loads(cli(cfg, "show", late["job_id"], "--json").stdout)
        assert filed["state"] == "failed" and any("CancelFax" in e["note"] for e in filed["events"])
        assert d.stop() == 0


def test_cancel_with_the_daemon_stopped_files_the_document_itself(
    tmp_path: Path,
    hot: Path,
    emulator: EmulatorServer,
    start: Callable[..., DaemonProcess],
    journal_backend: JournalBackend,
) -> None:
    cfg = config(tmp_path, emulator.url, hot, journal_backend)
    d = start(cfg)
    assert cli(cfg, "hold", "--folder", "hot").returncode == 0
    doc = make_sample_pdf(text="offline")
    drop(hot, "offline.pdf", doc)
    job = held_jobs(cfg, 1)["offline.pdf"]
    assert d.stop() == 0
    cancel = cli(cfg, "cancel", job["job_id"], "--reason", "sent by post")
    assert cancel.returncode == 0 and "not running" in cancel.stdout, cancel.stderr
    [receipt] = receipts(hot / "failed")
    assert receipt["reason"] == "cancelled by operator: sent by post"
    assert (hot / "failed" / "offline.pdf").read_bytes() == doc
    assert queue(cfg) == [] and submitted(emulator) == []
    again = cli(cfg, "cancel", job["job_id"])
    assert again.returncode == 1 and "already failed" in again.stderr


def test_a_crash_between_a_command_and_its_effect_applies_it_once(
    tmp_path: Path,
    hot: Path,
    emulator: EmulatorServer,
    start: Callable[..., DaemonProcess],
    journal_backend: JournalBackend,
) -> None:
    cfg = config(tmp_path, emulator.url, hot, journal_backend)
    # The second command the daemon reads kills it before it is applied.
    d = start(cfg, FAXDROPD_CRASH_AT="after_command_read:2")
    assert cli(cfg, "hold", "--folder", "hot").returncode == 0
    doc = make_sample_pdf(text="crash")
    drop(hot, "crash.pdf", doc)
    job = held_jobs(cfg, 1)["crash.pdf"]
    cancel = cli(cfg, "cancel", job["job_id"], "--reason", "mid-crash")
    assert cancel.returncode == 1 and "not applied yet" in cancel.stderr
    assert d.proc is not None and d.proc.wait(30) == -9
    assert documents(hot / "failed") == []
    d.env = {}
    d.start()
    wait_for(lambda: receipts(hot / "failed"), 30, what="the command applied after the restart")
    assert [p.name for p in documents(hot / "failed")] == ["crash.pdf"]
    story = json.loads(cli(cfg, "show", job["job_id"], "--json").stdout)
    assert [e["note"] for e in story["events"]].count("outcome failed: cancelled by operator: mid-crash") == 1
    db = journal_backend.reader(tmp_path / "state")
    rows = [tuple(r) for r in db.conn.execute("SELECT verb, ok FROM commands ORDER BY id").fetchall()]
    db.close()
    assert rows == [("hold", 1), ("cancel", 1)]
    assert submitted(emulator) == []
    assert d.stop() == 0


def test_config_option_before_or_after_the_subcommand(tmp_path: Path, hot: Path, emulator: EmulatorServer) -> None:
    cfg = config(tmp_path, emulator.url, hot)
    for args in (
        ["-c", str(cfg), "check-config"],
        ["check-config", "-c", str(cfg)],
        ["check-config", "--config", str(cfg)],
    ):
        proc = cli(None, *args)
        assert proc.returncode == 0 and f"{cfg}: OK" in proc.stdout, (args, proc.stderr)
    after = cli(None, "status", "-c", str(cfg))
    assert after.returncode == 3 and "no journal" in after.stderr
    doc = tmp_path / "letter.pdf"
    doc.write_bytes(make_sample_pdf(text="letter"))
    sent = cli(None, "send", "--to", NUMBER, str(doc), "-c", str(cfg))  # --to before the file
    assert sent.returncode == 0, sent.stderr
    assert len(submitted(emulator)) == 1


def test_ops_commands_work_without_the_password(
    tmp_path: Path, hot: Path, emulator: EmulatorServer, start: Callable[..., DaemonProcess]
) -> None:
    cfg = config(tmp_path, emulator.url, hot)
    d = start(cfg)
    drop(hot, "denied.pdf", make_sample_pdf(text="denied"))
    (hot / "denied.pdf.fax.yaml").write_text("to: '+19005550100'\n")
    wait_for(lambda: documents(hot / "failed"), 60, what="a failed document")
    assert d.stop() == 0
    data = yaml.safe_load(cfg.read_text())
    data["interfax"] = {**data["interfax"], "password_file": str(tmp_path / "no-such-credential")}
    del data["interfax"]["password_env"]
    nopass = tmp_path / "nopass.yaml"
    nopass.write_text(yaml.safe_dump(data))
    nopass.chmod(0o600)
    failed = hot / "failed" / "denied.pdf"
    for args in (
        ["check-config"],
        ["queue"],
        ["show", "denied.pdf"],
        ["explain", str(failed)],
        ["retry", str(failed), "--dry-run", "--force"],
        ["hold", "--folder", "hot"],
        ["release", "--folder", "hot"],
    ):
        proc = cli(nopass, *args)
        assert proc.returncode in (0, 1) and "does not exist" not in proc.stderr, (args, proc.stdout, proc.stderr)
    assert cli(nopass, "status").returncode == 1  # degraded by the failure, not refused for the password
    checked = cli(nopass, "check-config")
    assert checked.returncode == 0 and "note: the password is not readable here" in checked.stdout
    retried = cli(nopass, "retry", "--all-failed")
    assert retried.returncode == 0 and "would fail the same way" in retried.stdout  # a denied number repeats
    assert documents(hot / "failed") == [failed]
    for args in (["run"], ["send", str(failed), "--to", NUMBER]):
        refused = cli(nopass, *args)
        assert refused.returncode == 78 and "does not exist" in refused.stderr, (args, refused.stderr)


def test_retry_filters_by_reason_and_age_and_can_dry_run(
    tmp_path: Path,
    hot: Path,
    emulator: EmulatorServer,
    start: Callable[..., DaemonProcess],
    journal_backend: JournalBackend,
) -> None:
    cfg = config(tmp_path, emulator.url, hot, journal_backend)
    d = start(cfg)
    drop(hot, "denied.pdf", make_sample_pdf(text="denied"))
    (hot / "denied.pdf.fax.yaml").write_text("to: '+19005550100'\n")
    wait_for(lambda: documents(hot / "failed"), 60, what="a failed document")
    assert d.stop() == 0
    failed = hot / "failed" / "denied.pdf"
    other = cli(cfg, "retry", "--all-failed", "--force", "--reason", "no such reason")
    assert other.returncode == 0 and "no failed documents" in other.stdout
    old = cli(cfg, "retry", "--all-failed", "--force", "--since", "0s")
    assert old.returncode == 0 and "no failed documents" in old.stdout
    dry = cli(cfg, "retry", "--all-failed", "--force", "--reason", "deny pattern", "--since", "1h", "--dry-run")
    assert dry.returncode == 0 and "would requeue" in dry.stdout and "1 document would" in dry.stdout
    assert documents(hot / "failed") == [failed]  # a dry run moves nothing
    forced = cli(cfg, "retry", str(failed), "--force")
    assert forced.returncode == 0 and "requeued" in forced.stdout
    assert documents(hot / "failed") == []


def test_queue_shows_files_waiting_in_the_folder_and_why(
    tmp_path: Path, hot: Path, emulator: EmulatorServer, journal_backend: JournalBackend
) -> None:
    cfg = config(tmp_path, emulator.url, hot, journal_backend)
    journal_backend.open(tmp_path / "state").close()  # a journal, and no daemon
    drop(hot, "waiting.pdf", make_sample_pdf(text="waiting"))
    proc = cli(cfg, "queue")
    assert proc.returncode == 0, proc.stderr
    assert "0 jobs not final" in proc.stdout and "1 file waiting in hot folders" in proc.stdout
    assert "hot/waiting.pdf" in proc.stdout and "the daemon is not running" in proc.stdout
    assert cli(cfg, "queue", "--json").stdout.strip() == "[]"


def test_help_completion_and_man_page_come_from_the_parser(tmp_path: Path) -> None:
    from faxdropd.cli.parser import build_parser

    parser = build_parser()
    [commands] = [a for a in parser._actions if a.dest == "command"]
    assert {"queue", "show", "hold", "release", "cancel", "completion", "man"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        assert sub.description, name
        undocumented = [a.dest for a in sub._actions if not a.help]
        assert undocumented == [], (name, undocumented)
    helped = cli(None, "--help")
    assert "exit codes:" in helped.stdout and "78" in helped.stdout
    assert "exit codes:" in cli(None, "queue", "--help").stdout
    for shell in ("bash", "zsh"):
        script = cli(None, "completion", shell)
        assert script.returncode == 0 and "queue" in script.stdout and "--all-failed" in script.stdout
    page = cli(None, "man")
    assert page.returncode == 0 and page.stdout.startswith(".TH FAXDROPD 8")
    assert ".SS queue" in page.stdout and ".SH EXIT STATUS" in page.stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("no_color", ["", "1"])
def test_no_color_turns_off_colours_in_the_console_log(monkeypatch: pytest.MonkeyPatch, no_color: str) -> None:
    from faxdropd import log

    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.setenv("NO_COLOR", no_color)
    out = _Terminal()
    try:
        log.configure("console", "info", stream=out)
        log.get_logger("faxdropd.test").info("console.colour", folder="hot")
    finally:
        log.configure("json", "info")
    assert "console.colour" in out.getvalue()
    assert ("\x1b[" in out.getvalue()) is (not no_color)


def test_a_command_that_raises_fails_once_and_the_others_still_apply(
    tmp_path: Path, journal_backend: JournalBackend
) -> None:
    from faxdropd.jobs import controls
    from faxdropd.ops.apply import Applier

    journal = journal_backend.open(tmp_path / "state", exit_on_failure=False)

    def commands(conn: sqlite3.Connection) -> None:
        controls.add_command(conn, "hold", "folder:hot", "")
        controls.add_command(conn, "hold", "no-such-job", "")

    def broken() -> set[str]:
        raise RuntimeError("a bug")

    try:
        journal.write("test", commands)
        applier = Applier(journal, folders=broken)
        applier.step()
        applier.step()  # nothing is left to apply: the failed command is not retried every pass
        rows = journal.read(lambda conn: conn.execute("SELECT ok, result FROM commands ORDER BY id").fetchall())
        assert [tuple(r) for r in rows] == [(0, "internal error: a bug"), (0, "no job no-such-job")]
    finally:
        journal.close()
