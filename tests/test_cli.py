"""Every `faxdropd` command (DESIGN §2) as an operator runs it: a real subprocess, real folders, the emulator
as a real HTTP server on loopback, the daemon as a real process where a command needs one."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from daemonkit import PASSWORD, DaemonProcess, documents, drop, receipts, wait_for, write_config

from faxdropd.cli.send import FIRST_CHECK, MAX_INTERVAL, QueryPacer
from faxdropd.config.model import FaxOptions
from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer
from faxdropd.interfax.faxfields import sendfax_fields

ROOT = Path(__file__).resolve().parent.parent
QUERIES_PER_MINUTE = 6  # InterFAX's limit, the default of delivery.query_limit_per_minute
SIM = "+9999999*"  # allow pattern for the InterFAX simulator numbers, which phonenumbers calls invalid


def cli(
    config: Path | None, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("FAXDROPD_CONFIG", "NOTIFY_SOCKET")}
    full_env = {**inherited, "FAXDROPD_TEST_PASSWORD": PASSWORD, **(env or {})}
    head = ["-c", str(config)] if config is not None else []
    proc = subprocess.run(
        [sys.executable, "-m", "faxdropd", *head, *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=config.parent if config else None,
    )
    # No command may ever leak a traceback or the password to an operator's terminal.
    assert "Traceback" not in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr
    return proc


def ledger(server: EmulatorServer) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(server.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=10).json()
    return data


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connections are refused


def tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def hot(tmp_path: Path) -> Path:
    folder = tmp_path / "hot"
    folder.mkdir()
    return folder


def config_for(tmp_path: Path, url: str, hot: Path, **folder: Any) -> Path:
    # allow only catch-all: the simulator numbers then need --allow, which is what the tests want to see.
    return write_config(tmp_path, url, [{"path": str(hot), "to": "+99999990", **folder}], defaults={"allow": ["+*"]})


@pytest.fixture
def cfg(tmp_path: Path, hot: Path, emulator: EmulatorServer) -> Path:
    return config_for(tmp_path, emulator.url, hot)


# --- usage, version ---------------------------------------------------------------------------------------


def test_version_and_usage_errors(tmp_path: Path, cfg: Path) -> None:
    version = cli(None, "--version")
    assert version.returncode == 0 and re.fullmatch(r"faxdropd \S+\n", version.stdout)
    assert cli(None).returncode == 2
    assert cli(None, "frobnicate").returncode == 2
    assert cli(cfg, "send", "x.pdf").returncode == 2  # --to is required
    assert cli(cfg, "status", "--bogus").returncode == 2
    nothing = cli(cfg, "retry")
    assert nothing.returncode == 2 and "--all-failed" in nothing.stderr
    assert cli(cfg, "emulator", "--port", "70000").returncode == 2


# --- check-config -----------------------------------------------------------------------------------------


def test_check_config_prints_the_routing_table(cfg: Path, hot: Path) -> None:
    proc = cli(cfg, "check-config")
    assert proc.returncode == 0, proc.stderr
    assert f"[hot] {hot}" in proc.stdout and "+99999990" in proc.stdout
    assert "watch" in proc.stdout and "sent" in proc.stdout
    # $FAXDROPD_CONFIG is the fallback when -c is not given.
    assert cli(None, "check-config", env={"FAXDROPD_CONFIG": str(cfg)}).returncode == 0


def test_check_config_names_the_bad_key_and_exits_78(tmp_path: Path, cfg: Path) -> None:
    data = yaml.safe_load(cfg.read_text())
    data["folders"][0]["fax"] = {"page_size": "A5"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    proc = cli(bad, "check-config")
    assert proc.returncode == 78
    assert "folders[0].fax.page_size" in proc.stderr and "A4" in proc.stderr


def test_check_config_missing_file_exits_78(tmp_path: Path) -> None:
    proc = cli(tmp_path / "nowhere.yaml", "check-config")
    assert proc.returncode == 78
    assert "nowhere.yaml" in proc.stderr and proc.stdout == ""


def test_the_example_config_passes(tmp_path: Path) -> None:
    text = (ROOT / "config" / "faxdropd.example.yaml").read_text()
    text, swapped = re.subn(r"(?m)^(\s*)password_file: .*$", r"\1password_env: FAXDROPD_TEST_PASSWORD", text)
    assert swapped == 1
    example = tmp_path / "example.yaml"
    example.write_text(text)
    proc = cli(example, "check-config")
    assert proc.returncode == 0, proc.stderr
    assert "[scans] /srv/fax/scans/outbox" in proc.stdout and "Letter" in proc.stdout
    warnings = [line for line in proc.stdout.splitlines() if line.startswith("warning:")]
    # Only what this machine lacks: the example's folders and its state_dir.
    assert all("does not exist" in w for w in warnings), warnings
    assert sum("/srv/fax/" in w for w in warnings) == 3


# --- explain ----------------------------------------------------------------------------------------------


def test_explain_a_good_pdf_changes_nothing(tmp_path: Path, cfg: Path, hot: Path) -> None:
    doc = hot / "+12125550100 invoice.pdf"
    doc.write_bytes(make_sample_pdf(pages=2, text="explain"))
    before = tree(tmp_path)
    proc = cli(cfg, "explain", str(doc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "folder:      hot" in out
    assert "PDF" in out and "2 pages" in out and hashlib.sha256(doc.read_bytes()).hexdigest() in out
    assert "filename" in out and "+12125550100" in out  # the source of the number and its E.164 form
    assert "'+*'" in out  # the allow pattern that decided
    for field in ("FaxNumbers", "PageSize", "PageOrientation", "RetriesToPerform", "Subject"):
        assert field in out
    assert "faxes_per_hour" in out and "pages_per_fax" in out
    assert tree(tmp_path) == before  # no journal, no state_dir, no sent/ or failed/, the file in place
    assert not (tmp_path / "state").exists()


def test_explain_a_denied_number_says_which_pattern(tmp_path: Path, cfg: Path, hot: Path) -> None:
    doc = hot / "+19005550100 premium.pdf"
    doc.write_bytes(make_sample_pdf())
    proc = cli(cfg, "explain", str(doc))
    assert proc.returncode == 1
    assert "REJECTED" in proc.stdout and "'+1900*'" in proc.stdout
    assert doc.exists() and not (hot / "failed").exists()


def test_explain_shows_the_text_read_as_the_number(cfg: Path, hot: Path) -> None:
    doc = hot / "(212) 555-0100 memo.pdf"
    doc.write_bytes(make_sample_pdf())
    proc = cli(cfg, "explain", str(doc))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'number from file name: "(212) 555-0100" → +12125550100' in proc.stdout
    bad = hot / "fax=abc memo.pdf"
    bad.write_bytes(make_sample_pdf())
    proc = cli(cfg, "explain", str(bad))
    assert proc.returncode == 1
    assert "REJECTED — file name says fax=abc, which is not a fax number" in proc.stdout


def test_explain_a_symlink_outside_and_missing_files(tmp_path: Path, cfg: Path, hot: Path) -> None:
    target = tmp_path / "secret.pdf"
    target.write_bytes(make_sample_pdf())
    (hot / "link.pdf").symlink_to(target)
    (hot / "~$draft.docx").write_bytes(b"an Office lock file")
    before = tree(tmp_path)
    rejected = cli(cfg, "explain", str(hot / "link.pdf"))
    assert rejected.returncode == 1
    assert "REJECTED" in rejected.stdout and "symbolic link" in rejected.stdout
    outside = cli(cfg, "explain", str(target))
    assert outside.returncode == 1 and "not in any configured hot folder" in outside.stdout
    ignored = cli(cfg, "explain", str(hot / "~$draft.docx"))
    assert ignored.returncode == 1 and "IGNORED" in ignored.stdout
    missing = cli(cfg, "explain", str(hot / "gone.pdf"))
    assert missing.returncode == 1 and "no such file" in missing.stderr
    assert tree(tmp_path) == before


# --- send -------------------------------------------------------------------------------------------------


def test_send_one_file(tmp_path: Path, cfg: Path, emulator: EmulatorServer) -> None:
    pdf = make_sample_pdf(pages=1, text="one")
    (tmp_path / "letter.pdf").write_bytes(pdf)
    proc = cli(cfg, "send", str(tmp_path / "letter.pdf"), "--to", "+1 (212) 555-0100", "+99999990", "--allow", SIM)
    assert proc.returncode == 0, proc.stderr
    [sub] = ledger(emulator)["submissions"]
    assert sub["numbers"] == ["+12125550100", "+99999990"]
    assert sub["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert sub["job_id"] in proc.stdout  # the reference printed is the one InterFAX holds
    assert (tmp_path / "letter.pdf").read_bytes() == pdf


def test_send_two_files_make_one_fax(tmp_path: Path, cfg: Path, emulator: EmulatorServer) -> None:
    first, second = make_sample_pdf(pages=1, text="a"), make_sample_pdf(pages=2, text="b")
    (tmp_path / "a.pdf").write_bytes(first)
    (tmp_path / "b.pdf").write_bytes(second)
    proc = cli(cfg, "send", str(tmp_path / "a.pdf"), str(tmp_path / "b.pdf"), "--to", "+12125550100")
    assert proc.returncode == 0, proc.stderr
    [sub] = ledger(emulator)["submissions"]
    assert sub["file_types"] == ["PDF", "PDF"] and sub["file_sizes"] == [len(first), len(second)]
    assert sub["document_sha256"] == [hashlib.sha256(first).hexdigest(), hashlib.sha256(second).hexdigest()]


def test_send_wait_follows_to_delivered_and_failed(tmp_path: Path, cfg: Path, emulator: EmulatorServer) -> None:
    (tmp_path / "w.pdf").write_bytes(make_sample_pdf())
    ok = cli(cfg, "send", str(tmp_path / "w.pdf"), "--to", "+99999990", "--allow", SIM, "--wait")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("delivered")
    bad = cli(cfg, "send", str(tmp_path / "w.pdf"), "--to", "+99999996017", "--allow", SIM, "--wait")
    assert bad.returncode == 1, bad.stderr
    assert "(6017)" in bad.stdout and bad.stdout.strip().endswith("failed")
    assert len(ledger(emulator)["submissions"]) == 2


def test_send_wait_backs_off_within_the_query_budget(tmp_path: Path, hot: Path) -> None:
    with EmulatorServer(username="demo", password=PASSWORD, status_delay=4.0) as slow:
        cfg = config_for(tmp_path, slow.url, hot)
        (tmp_path / "w.pdf").write_bytes(make_sample_pdf())
        proc = cli(cfg, "send", str(tmp_path / "w.pdf"), "--to", "+12125550100", "--wait")
        assert proc.returncode == 0, proc.stderr
        calls = ledger(slow)["calls"]
    [sent] = [datetime.fromisoformat(c["at"]) for c in calls if c["op"] == "SendfaxEx_2"]
    queries = [c for c in calls if c["op"].startswith("FaxQuery")]
    # It looked more than once (the early first check found the fax still in progress) and InterFAX never
    # refused a query for going over 6 a minute.
    assert 2 <= len(queries) <= QUERIES_PER_MINUTE, queries
    assert all(q["result"] == 0 for q in queries), queries
    # Lower bounds only (a loaded machine makes gaps longer, never shorter): no query right after the
    # submission, and the second gap is longer than the first wait.
    at = [sent, *(datetime.fromisoformat(q["at"]) for q in queries)]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(at)]
    assert gaps[0] >= FIRST_CHECK * 0.9 and gaps[1] >= 2 * FIRST_CHECK * 0.9, gaps


def test_send_refuses_numbers_with_exit_2(tmp_path: Path, cfg: Path, emulator: EmulatorServer) -> None:
    (tmp_path / "r.pdf").write_bytes(make_sample_pdf())
    simulator = cli(cfg, "send", str(tmp_path / "r.pdf"), "--to", "+99999996017")  # no --allow
    assert simulator.returncode == 2 and "+99999996017" in simulator.stderr
    premium = cli(cfg, "send", str(tmp_path / "r.pdf"), "--to", "+12125550100", "+19005550100")
    assert premium.returncode == 2 and "+1900*" in premium.stderr
    assert ledger(emulator)["submissions"] == []


def test_send_unreachable_bad_config_and_bad_file(tmp_path: Path, hot: Path) -> None:
    (tmp_path / "u.pdf").write_bytes(make_sample_pdf())
    unreachable = config_for(tmp_path, f"http://127.0.0.1:{closed_port()}/dfs.asmx", hot)
    proc = cli(unreachable, "send", str(tmp_path / "u.pdf"), "--to", "+12125550100")
    assert proc.returncode == 75 and "unreachable" in proc.stderr
    data = yaml.safe_load(unreachable.read_text())
    data["workers"] = 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    proc = cli(bad, "send", str(tmp_path / "u.pdf"), "--to", "+12125550100")
    assert proc.returncode == 78 and "workers" in proc.stderr
    missing = cli(unreachable, "send", str(tmp_path / "nope.pdf"), "--to", "+12125550100")
    assert missing.returncode == 1 and "nope.pdf" in missing.stderr


def test_send_chunked_upload_shows_progress(tmp_path: Path, hot: Path, emulator: EmulatorServer) -> None:
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+12125550100"}],
        extra={"interfax": {"chunk_size": 100_000, "inline_max_bytes": 200_000}},
    )
    pdf = make_sample_pdf(pages=2, text="big", pad_to=700_000)
    (tmp_path / "big.pdf").write_bytes(pdf)
    proc = cli(cfg, "send", str(tmp_path / "big.pdf"), "--to", "+12125550100")
    assert proc.returncode == 0, proc.stderr
    assert "uploading" in proc.stderr
    [sub] = ledger(emulator)["submissions"]
    assert sub["session_id"] and sub["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert "accepted" in proc.stdout and "uploading" not in proc.stdout  # stdout stays parseable


def test_send_with_the_embedded_emulator(tmp_path: Path, hot: Path) -> None:
    cfg = tmp_path / "embedded.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "interfax": {"url": "embedded"},
                "state_dir": str(tmp_path / "state"),
                "folders": [{"path": str(hot), "to": "+12125550100"}],
            }
        )
    )
    (tmp_path / "e.pdf").write_bytes(make_sample_pdf())
    proc = cli(cfg, "send", str(tmp_path / "e.pdf"), "--to", "+12125550100", "--wait")
    assert proc.returncode == 0, proc.stderr
    assert "accepted: transaction" in proc.stdout and proc.stdout.strip().endswith("delivered")


def test_query_pacer_starts_early_backs_off_and_keeps_six_a_minute() -> None:
    now = [0.0]
    pacer = QueryPacer(QUERIES_PER_MINUTE, clock=lambda: now[0])
    times: list[float] = []
    for _ in range(40):
        now[0] += pacer.delay()
        times.append(now[0])
        pacer.sent()
    assert times[0] == FIRST_CHECK
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[0] < gaps[2] and max(gaps) <= 60
    assert all(g <= MAX_INTERVAL for g in gaps[:5])
    for i, t in enumerate(times):  # any 60 s window holds at most 6 queries
        assert sum(t <= u < t + 60 for u in times[i:]) <= QUERIES_PER_MINUTE
    now[0] += pacer.delay()
    pacer.sent(rate_limited=True)
    assert pacer.delay() >= MAX_INTERVAL - 1e-9


# --- status -----------------------------------------------------------------------------------------------


def test_status_without_a_journal(cfg: Path, tmp_path: Path) -> None:
    proc = cli(cfg, "status")
    assert proc.returncode == 3 and "no journal" in proc.stderr  # 3: cannot tell, for monitoring checks
    assert not (tmp_path / "state").exists()


@pytest.fixture
def daemon(tmp_path: Path, daemons: list[DaemonProcess]) -> Iterator[Any]:
    def start(cfg: Path) -> DaemonProcess:
        d = DaemonProcess(cfg, tmp_path / "daemon.log")
        daemons.append(d)
        return d.start()

    yield start


def test_status_after_a_daemon_run(tmp_path: Path, hot: Path, emulator: EmulatorServer, daemon: Any) -> None:
    cfg = config_for(tmp_path, emulator.url, hot, to="+12125550100")
    d = daemon(cfg)
    drop(hot, "good.pdf", make_sample_pdf(text="good"))
    (tmp_path / "elsewhere.pdf").write_bytes(make_sample_pdf(text="elsewhere"))
    (hot / "link.pdf").symlink_to(tmp_path / "elsewhere.pdf")
    wait_for(lambda: receipts(hot / "sent") and receipts(hot / "failed"), 60, what="one sent, one failed")
    assert d.stop() == 0
    text = cli(cfg, "status")
    assert text.returncode == 1, text.stderr  # degraded: a document was rejected within the hour
    assert "degraded: 1 failed in the last hour" in text.stdout and "daemon: not running" in text.stdout
    assert "delivered 1" in text.stdout and "rejected 1" in text.stdout and "in flight: 0" in text.stdout
    assert "link.pdf" in text.stdout and "symbolic link" in text.stdout
    js = cli(cfg, "status", "--json")
    assert js.returncode == 1
    report = json.loads(js.stdout)
    assert report["states"] == {"delivered": 1, "rejected": 1}
    assert report["in_flight"] == [] and report["oldest_pending_age_s"] is None and report["paused"] is None
    [failure] = report["recent_failures"]
    assert failure["file"] == "link.pdf" and failure["outcome"] == "rejected" and "symbolic" in failure["reason"]
    assert failure["filed"] == str(hot / "failed" / "link.pdf")


def test_status_while_the_daemon_runs(tmp_path: Path, hot: Path, daemon: Any) -> None:
    # Faxes that stay in progress for a minute keep jobs in flight while status reads the live WAL journal.
    with EmulatorServer(username="demo", password=PASSWORD, status_delay=60) as slow:
        cfg = config_for(tmp_path, slow.url, hot, to="+12125550100")
        d = daemon(cfg)
        for i in range(3):
            drop(hot, f"doc{i}.pdf", make_sample_pdf(text=f"doc {i}"))
        reports: list[dict[str, Any]] = []

        def three_in_flight() -> bool:
            proc = cli(cfg, "status", "--json")
            assert proc.returncode == 0, proc.stderr  # never locked out, never a half-written database
            reports.append(json.loads(proc.stdout))
            return len(reports[-1]["in_flight"]) == 3

        wait_for(three_in_flight, 60, interval=0.2, what="three jobs in flight")
        report = reports[-1]
        assert {j["file"] for j in report["in_flight"]} == {"doc0.pdf", "doc1.pdf", "doc2.pdf"}
        assert all(j["state"] == "submitted" and j["transaction_ids"] for j in report["in_flight"])
        assert report["oldest_pending_age_s"] is not None and report["oldest_pending_age_s"] >= 0
        text = cli(cfg, "status")
        assert text.returncode == 0 and "in flight: 3" in text.stdout and "oldest pending job" in text.stdout
        assert d.proc is not None and d.proc.poll() is None  # status took nothing from the daemon
        assert d.stop() == 0


# --- retry ------------------------------------------------------------------------------------------------


def test_retry_puts_failed_documents_back_and_the_daemon_sends_them(
    tmp_path: Path, hot: Path, emulator: EmulatorServer, daemon: Any
) -> None:
    cfg = config_for(tmp_path, emulator.url, hot, to="+99999996017", allow=[SIM])  # the simulator fails it
    d = daemon(cfg)
    pdf = make_sample_pdf(text="busy line")
    drop(hot, "busy.pdf", pdf)
    drop(hot, "busy2.pdf", make_sample_pdf(text="busy line 2"))
    wait_for(lambda: len(documents(hot / "failed")) == 2, 60, what="two documents in failed/")
    assert len(ledger(emulator)["submissions"]) == 2

    outside = cli(cfg, "retry", str(tmp_path / "daemon.log"))
    assert outside.returncode == 2 and "failed/" in outside.stderr
    assert len(documents(hot / "failed")) == 2  # a usage error moves nothing

    one = cli(cfg, "retry", str(hot / "failed" / "busy.pdf.receipt.json"))  # the receipt names its document
    assert one.returncode == 0, one.stderr
    assert [p.name for p in documents(hot / "failed")] == ["busy2.pdf"]
    wait_for(lambda: len(ledger(emulator)["submissions"]) == 3, 60, what="the retried document sent again")
    assert ledger(emulator)["submissions"][2]["sha256"] == hashlib.sha256(pdf).hexdigest()
    wait_for(
        lambda: len(receipts(hot / "failed")) == 2 and len(documents(hot / "failed")) == 2,
        60,
        what="the retry filed again",
    )

    every = cli(cfg, "retry", "--all-failed")
    assert every.returncode == 0, every.stderr
    assert every.stdout.count("requeued") == 2
    wait_for(lambda: len(ledger(emulator)["submissions"]) == 5, 60, what="both sent again")
    assert d.stop() == 0


# --- emulator ---------------------------------------------------------------------------------------------


def test_emulator_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = closed_port()
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "faxdropd",
            "emulator",
            "--port",
            str(port),
            "--store",
            str(store),
            "--password",
            PASSWORD,
            "--status-delay",
            "0.2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/dfs.asmx" in first, first + (proc.stderr.read() if proc.stderr else "")
        from faxdropd.interfax.client import ClientFactory, ClientSettings

        client = ClientFactory(
            ClientSettings(
                url=f"http://127.0.0.1:{port}/dfs.asmx",
                username="demo",
                password=PASSWORD,
                timeout=10,
                connect_timeout=5,
            )
        ).client()
        pdf = make_sample_pdf()
        fields = sendfax_fields(
            FaxOptions(),
            numbers=["+12125550100"],
            document_name="e.pdf",
            folder_name="emu",
            reference="fd-emu1",
            now=datetime.now(UTC),
        )
        tid = client.send_fax(fields, pdf, ["PDF"], str(len(pdf)))
        assert tid > 0
        wsdl = requests.get(f"http://127.0.0.1:{port}/dfs.asmx?WSDL", timeout=10)
        assert wsdl.status_code == 200 and b"SendfaxEx_2" in wsdl.content
        stored = [p for p in store.rglob("*") if p.is_file()]
        assert any(p.read_bytes() == pdf for p in stored), stored
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_retry_finds_documents_in_dated_month_folders(
    tmp_path: Path, hot: Path, emulator: EmulatorServer, daemon: Any
) -> None:
    # retention.archive: dated files failures into failed/YYYY-MM/; retry must find them there, by path and all.
    cfg = write_config(
        tmp_path,
        emulator.url,
        [{"path": str(hot), "to": "+99999996017"}],
        defaults={"allow": ["+*"]},
        extra={"retention": {"archive": "dated"}},
    )
    d = daemon(cfg)
    drop(hot, "busy.pdf", make_sample_pdf(text="dated busy"))
    drop(hot, "busy2.pdf", make_sample_pdf(text="dated busy 2"))

    def months() -> list[Path]:
        failed = hot / "failed"
        return [p for p in failed.iterdir() if p.is_dir()] if failed.is_dir() else []

    wait_for(lambda: len(months()) == 1 and len(documents(months()[0])) == 2, 60, what="two in a month folder")
    assert d.stop() == 0
    [month] = months()
    assert documents(hot / "failed") == []

    one = cli(cfg, "retry", str(month / "busy.pdf"))
    assert one.returncode == 0, one.stderr
    assert (hot / "busy.pdf").exists() and [p.name for p in documents(month)] == ["busy2.pdf"]

    every = cli(cfg, "retry", "--all-failed", "--dry-run")
    assert every.returncode == 0, every.stderr
    assert f"would requeue {month / 'busy2.pdf'}" in every.stdout


def test_the_emulator_command_keeps_answering_with_its_output_unread() -> None:
    """`faxdropd emulator` under a supervisor that reads only its first line (the benchmarks, a pipe nobody
    drains): it logs no line per request, so it never stalls on a full pipe in the middle of a kept-alive
    connection (a request's debug line was printed to stdout: ~500 requests filled the pipe)."""
    import http.client

    proc = subprocess.Popen(
        [sys.executable, "-m", "faxdropd", "emulator", "--port", "0", "--password", "pipe-test-secret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split("listening on ", 1)[1].split()[0]
        host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for _ in range(2000):
            conn.request("GET", "/dfs.asmx")
            reply = conn.getresponse()
            assert reply.status == 200 and reply.read()
        conn.close()
    finally:
        proc.terminate()
        proc.wait(10)
