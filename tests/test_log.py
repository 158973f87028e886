"""faxdropd.log: JSON/console rendering, journald prefix, redaction of secrets, escaping of file names."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from faxdropd import log
from faxdropd.log import scrub


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("JOURNAL_STREAM", "INVOCATION_ID"):
        monkeypatch.delenv(var, raising=False)
    yield
    scrub.forget_secrets()
    structlog.contextvars.clear_contextvars()
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_faxdropd", False)]:
        root.removeHandler(h)
    root.setLevel(logging.WARNING)
    structlog.reset_defaults()


def _lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_json_lines_parse_and_carry_event_names() -> None:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    logger = log.get_logger()
    with structlog.contextvars.bound_contextvars(job_id="J1"):
        logger.info("job.detected", folder="sales", size=1234)
        logging.getLogger("pypdf._reader").warning("EOF marker not found")
    logger.debug("job.stable")  # below level: dropped
    lines = _lines(buf)
    assert [e["event"] for e in lines] == ["job.detected", "EOF marker not found"]
    first, second = lines
    assert first["level"] == "info" and first["logger"] == "faxdropd" and first["job_id"] == "J1"
    assert str(first["timestamp"]).endswith("Z")  # ISO, UTC
    assert second["logger"] == "pypdf._reader" and second["level"] == "warning" and second["job_id"] == "J1"
    assert not buf.getvalue().startswith("<")  # no journald prefix outside systemd


def test_auto_is_json_when_not_a_tty_and_prefix_under_journald(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()  # not a TTY
    log.configure("auto", "info", buf)
    log.get_logger().info("daemon.ready")
    assert _lines(buf)[0]["event"] == "daemon.ready"

    monkeypatch.setenv("JOURNAL_STREAM", "8:12345")  # StringIO has no fd to compare: env is trusted
    buf = io.StringIO()
    log.configure("auto", "info", buf)
    log.get_logger().warning("account.paused", reason="-1002")
    log.get_logger().error("job.failed")
    first, second = buf.getvalue().splitlines()
    assert first.startswith("<4>{") and second.startswith("<3>{")
    assert json.loads(first[3:])["event"] == "account.paused"


def test_journal_stream_of_another_file_means_no_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("JOURNAL_STREAM", "1:1")  # some other stream: our output was redirected
    with open(f"{tmp_path}/out.log", "w+") as fh:
        log.configure("json", "info", fh)
        log.get_logger().info("daemon.ready")
        logging.getLogger().handlers[-1].flush()
        fh.seek(0)
        assert json.loads(fh.read())["event"] == "daemon.ready"


def test_zeep_transport_debug_never_reaches_output() -> None:
    buf = io.StringIO()
    log.configure("json", "debug", buf)
    envelope = "HTTP Post to https://x/dfs.asmx:\n<soap:Body><Password>hunter2</Password></soap:Body>"
    logging.getLogger("zeep.transports").debug(envelope)
    logging.getLogger("zeep.wsdl.wsdl").debug("adding binding")
    logging.getLogger("urllib3.connectionpool").debug("Starting new HTTPS connection")
    # Even if someone lowers the child logger again, the handler filter drops it.
    logging.getLogger("zeep.transports").setLevel(logging.DEBUG)
    logging.getLogger("zeep.transports").debug(envelope)
    log.get_logger().debug("job.uploading", chunk=1)
    out = buf.getvalue()
    assert "hunter2" not in out and "Password" not in out and "binding" not in out
    assert [e["event"] for e in _lines(buf)] == ["job.uploading"]


def test_xml_password_scrubbed_at_info() -> None:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    logging.getLogger("zeep").warning("fault: <ns0:Password>hunter2</ns0:Password> <Username>u</Username>")
    log.get_logger().info("interfax.error", detail="&lt;Password&gt;hunter2&lt;/Password&gt;")
    log.get_logger().info("interfax.error", detail="truncated <Password>hunter2")
    out = buf.getvalue()
    assert "hunter2" not in out
    assert "<ns0:Password>***</ns0:Password>" in out and "<Username>u</Username>" in out


def test_registered_secret_and_base64_scrubbed() -> None:
    secret = "s3cr3t-Passw0rd"
    log.register_secret(secret)
    b64 = base64.b64encode(secret.encode()).decode()
    basic = base64.b64encode(f"acme:{secret}".encode()).decode()  # secret at a non-aligned offset
    buf = io.StringIO()
    log.configure("json", "debug", buf)
    log.get_logger().info("interfax.call", note=f"pw={secret}", blob=b64, nested={"x": [secret]})
    log.get_logger().info(f"event with {secret}", password="plain", api_token="t0ken", Password="x")
    logging.getLogger("requests").warning("login %s failed, auth %s / %s", secret, b64, basic)
    try:
        raise RuntimeError(f"bad password {secret}")
    except RuntimeError:
        log.get_logger().exception("job.failed")
        logging.getLogger("faxdropd.stdlib").exception("stdlib %s", b64)
    out = buf.getvalue()
    assert secret not in out and b64 not in out
    # the part of the Basic-auth value that encodes only secret bytes is gone
    assert basic not in out and basic[8:-4] not in out
    assert out.count("***") >= 8
    lines = _lines(buf)
    assert lines[1]["password"] == "***" and lines[1]["api_token"] == "***" and lines[1]["Password"] == "***"
    assert "exc_type" in json.dumps(lines[3]) and "locals" not in json.dumps(lines[3])


def test_short_secret_ignored() -> None:
    log.register_secret("ab")  # would mask every "ab" in every line
    buf = io.StringIO()
    log.configure("json", "info", buf)
    log.get_logger().info("job.claimed", folder="abc")
    assert _lines(buf)[0]["folder"] == "abc"


def test_no_locals_in_tracebacks() -> None:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    password = "local-value-never-logged"  # noqa: F841  # a frame local the traceback must not show
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        log.get_logger().exception("job.failed")
    assert "local-value-never-logged" not in buf.getvalue()


def test_file_names_escaped() -> None:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    name = "evil\nfake.log\r\t\x1b[31m\udcff\\n.pdf"
    log.get_logger().info("job.detected", file=name, path=f"/srv/fax/{name}", other="a\nb")
    event = _lines(buf)[0]
    assert event["file"] == "evil\\nfake.log\\r\\t\\x1b[31m\\xff\\\\n.pdf"
    assert str(event["path"]).startswith("/srv/fax/evil\\n")
    assert event["other"] == "a\nb"  # other keys keep their value; JSON escapes the newline itself
    assert len(buf.getvalue().splitlines()) == 1


def test_our_lines_go_straight_to_the_handler_and_other_libraries_records_through_the_formatter() -> None:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    records: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.name)

    spy = Spy()
    logging.getLogger().addHandler(spy)
    try:
        log.get_logger("faxdropd.jobs.pipeline").info("job.claimed", file="a.pdf")
        logging.getLogger("zeep.wsdl").warning("a library's record")
    finally:
        logging.getLogger().removeHandler(spy)
    # No LogRecord is made for our event (lines.py): only the library's reached the standard library's handlers.
    assert records == ["zeep.wsdl"]
    lines = _lines(buf)
    assert [(line["event"], line["logger"], line["level"]) for line in lines] == [
        ("job.claimed", "faxdropd.jobs.pipeline", "info"),
        ("a library's record", "zeep.wsdl", "warning"),
    ]


def test_a_name_with_nothing_to_escape_is_kept_and_the_escaping_agrees_on_every_character() -> None:
    # escape_name returns a printable name without a backslash as it is, without its loop: that is right only
    # if the loop leaves every such character alone. Checked on every code point, through the loop (the
    # backslash in front sends each one there).
    changed = [
        hex(cp)
        for cp in range(0x110000)
        if chr(cp).isprintable() and chr(cp) != "\\" and log.escape_name("\\" + chr(cp)) != "\\\\" + chr(cp)
    ]
    assert changed == []
    assert log.escape_name("Scan 2026-12-06 Müller.pdf") == "Scan 2026-12-06 Müller.pdf"


def test_console_mode_renders_and_escapes() -> None:
    buf = io.StringIO()
    log.configure("console", "info", buf)
    log.get_logger().info("job.claimed", file="a\nb.pdf", password="hunter2")
    try:
        raise ValueError("boom")
    except ValueError:
        log.get_logger().exception("job.failed", folder="sales")
    out = buf.getvalue()
    assert "job.claimed" in out and "file=a\\nb.pdf" in out and "hunter2" not in out
    assert "Traceback" in out and "ValueError: boom" in out
    assert "\x1b[" not in out  # not a TTY: no colours
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


def test_reconfigure_takes_effect_and_keeps_foreign_handlers() -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    try:
        first, second = io.StringIO(), io.StringIO()
        log.configure("json", "info", first)
        logger = log.get_logger("faxdropd.daemon.mainloop")
        logger.info("daemon.ready")
        log.configure("json", "warning", second)
        logger.info("daemon.reloaded")  # now below level
        logger.warning("daemon.stopping")
        assert [e["event"] for e in _lines(first)] == ["daemon.ready"]
        assert [e["event"] for e in _lines(second)] == ["daemon.stopping"]
        assert other in logging.getLogger().handlers
        assert sum(getattr(h, "_faxdropd", False) for h in logging.getLogger().handlers) == 1
    finally:
        logging.getLogger().removeHandler(other)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="format"):
        log.configure("xml")
    with pytest.raises(ValueError, match="level"):
        log.configure("json", "verbose")


def test_scrub_text_helper() -> None:
    log.register_secret("hunter2hunter2")
    assert log.scrub_text("a hunter2hunter2 b") == "a *** b"
    assert log.scrub_text('<Password a="1">x</Password>') == '<Password a="1">***</Password>'
    assert log.scrub_text("<PasswordHint>x</PasswordHint>") == "<PasswordHint>x</PasswordHint>"
