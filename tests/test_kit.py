"""Smoke tests proving that each piece of tests/kit is a real, working service."""

from __future__ import annotations

import functools
import json
import smtplib
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kit import browser as kit_browser
from kit import pg as kit_pg
from kit import smtp as kit_smtp
from kit import webhook as kit_webhook
from kit.browser import png_size, screenshot, selenium_manager_forbidden
from kit.pg import PgCluster
from kit.smtp import SMTP_TEST_PASSWORD, SMTP_TEST_USER, SmtpServer
from kit.webhook import SIGNATURE_HEADER, WebhookReceiver, sign

# The kit's fixtures, made visible to this module; tests/conftest.py can enable them all with
# `pytest_plugins = ["kit.plugin"]` instead.
pg_cluster = kit_pg.pg_cluster
pg_dsn = kit_pg.pg_dsn
smtp_server = kit_smtp.smtp_server
smtp_tls_server = kit_smtp.smtp_tls_server
webhook_receiver = kit_webhook.webhook_receiver
_browser_session = kit_browser._browser_session
browser = kit_browser.browser


# -- PostgreSQL -----------------------------------------------------------------------------------------------


def test_pg_runs_queries_in_a_fresh_database(pg_dsn: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO jobs (name) VALUES (%s), (%s)", ("a.pdf", "b.pdf"))
        assert conn.execute("SELECT name FROM jobs ORDER BY id").fetchall() == [("a.pdf",), ("b.pdf",)]
        version = conn.execute("SHOW server_version_num").fetchone()
        assert version is not None and int(version[0]) >= 120000


def test_pg_immediate_stop_fails_connections_and_restart_recovers(pg_cluster: PgCluster, pg_dsn: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn) as conn:
        conn.execute("CREATE TABLE t (v int)")
        conn.execute("INSERT INTO t VALUES (42)")
    open_conn = psycopg.connect(pg_dsn)
    try:
        pg_cluster.stop("immediate")
        with pytest.raises(psycopg.OperationalError):
            open_conn.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_dsn, connect_timeout=2)
    finally:
        open_conn.close()
        pg_cluster.start()
    # Same port after the restart, and the committed row survived the crash-like stop.
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT v FROM t").fetchall() == [(42,)]
    pg_cluster.restart()
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


# -- SMTP ---------------------------------------------------------------------------------------------------------


def _message(subject: str = "Fax sent") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "faxdropd@example.test"
    msg["To"] = "ops@example.test"
    msg["Subject"] = subject
    msg.set_content("Job 17 was delivered.\n")
    return msg


def _verified_context(server: SmtpServer) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server.ca_path))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    return ctx


def _send_tls(server: SmtpServer, password: str = SMTP_TEST_PASSWORD, host: str = "127.0.0.1") -> None:
    with smtplib.SMTP(host, server.port, timeout=5) as client:
        client.starttls(context=_verified_context(server))
        client.login(SMTP_TEST_USER, password)
        client.send_message(_message(), to_addrs=["ops@example.test", "cc@example.test"])


def test_smtp_plain_captures_parsed_message(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as client:
        client.send_message(_message("plain"))
    (mail,) = smtp_server.wait_for(1, timeout=5)
    assert isinstance(mail.message, EmailMessage)
    assert mail.message["Subject"] == "plain"
    assert mail.message.get_content() == "Job 17 was delivered.\n"
    assert mail.mail_from == "faxdropd@example.test" and mail.rcpt_tos == ("ops@example.test",)
    assert not mail.tls and mail.login is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_smtp_starttls_auth_delivers_with_verified_certificate(smtp_tls_server: SmtpServer, host: str) -> None:
    _send_tls(smtp_tls_server, host=host)
    (mail,) = smtp_tls_server.wait_for(1, timeout=5)
    assert mail.tls and mail.login == SMTP_TEST_USER
    assert mail.rcpt_tos == ("ops@example.test", "cc@example.test")
    assert smtp_tls_server.messages[0]["Subject"] == "Fax sent"


def test_smtp_tls_certificate_is_not_trusted_without_the_test_ca(smtp_tls_server: SmtpServer) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_tls_server.port, timeout=5) as client:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(context=ssl.create_default_context())


def test_smtp_requires_tls_and_auth(smtp_tls_server: SmtpServer) -> None:
    with smtplib.SMTP("127.0.0.1", smtp_tls_server.port, timeout=5) as client:
        client.ehlo()
        assert not client.has_extn("auth"), "AUTH must not be offered before STARTTLS"
        with pytest.raises(smtplib.SMTPSenderRefused):
            client.send_message(_message())
    with smtplib.SMTP("127.0.0.1", smtp_tls_server.port, timeout=5) as client:
        client.starttls(context=_verified_context(smtp_tls_server))
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.send_message(_message())
        assert refused.value.smtp_code == 530
    with pytest.raises(smtplib.SMTPAuthenticationError) as bad:
        _send_tls(smtp_tls_server, password="wrong")
    assert bad.value.smtp_code == 535
    assert smtp_tls_server.captured == []


def test_smtp_refuse_mode_answers_451(smtp_tls_server: SmtpServer) -> None:
    smtp_tls_server.refuse = True
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        _send_tls(smtp_tls_server)
    assert refused.value.smtp_code == 451
    smtp_tls_server.refuse = False
    _send_tls(smtp_tls_server)
    assert len(smtp_tls_server.wait_for(1)) == 1


def test_smtp_drop_mode_closes_connections(smtp_tls_server: SmtpServer) -> None:
    smtp_tls_server.drop = True
    with pytest.raises(smtplib.SMTPServerDisconnected):
        smtplib.SMTP("127.0.0.1", smtp_tls_server.port, timeout=5)
    # A session opened before the fault is cut at its next transaction command.
    smtp_tls_server.drop = False
    client = smtplib.SMTP("127.0.0.1", smtp_tls_server.port, timeout=5)
    try:
        client.starttls(context=_verified_context(smtp_tls_server))
        client.login(SMTP_TEST_USER, SMTP_TEST_PASSWORD)
        smtp_tls_server.drop = True
        with pytest.raises(smtplib.SMTPServerDisconnected):
            client.send_message(_message())
    finally:
        client.close()
    smtp_tls_server.drop = False
    _send_tls(smtp_tls_server)
    assert len(smtp_tls_server.wait_for(1)) == 1


def test_smtp_down_then_up_on_the_same_port(smtp_tls_server: SmtpServer) -> None:
    port = smtp_tls_server.port
    smtp_tls_server.down()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)
    smtp_tls_server.up()
    assert smtp_tls_server.port == port
    _send_tls(smtp_tls_server)
    assert len(smtp_tls_server.wait_for(1)) == 1


def test_smtp_implicit_tls() -> None:
    with SmtpServer(tls="implicit", username="u", password="p") as server:
        ctx = ssl.create_default_context(cafile=str(server.ca_path))
        with smtplib.SMTP_SSL("localhost", server.port, timeout=5, context=ctx) as client:
            client.login("u", "p")
            client.send_message(_message("implicit"))
        (mail,) = server.wait_for(1)
        assert mail.tls and mail.message["Subject"] == "implicit"


def test_smtp_wait_for_times_out(smtp_server: SmtpServer) -> None:
    with pytest.raises(TimeoutError):
        smtp_server.wait_for(1, timeout=0.2)


# -- webhook receiver -------------------------------------------------------------------------------------------


def _post(url: str, body: bytes, signature: str | None) -> tuple[int, dict[str, str]]:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[SIGNATURE_HEADER] = signature
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers.items())
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers.items())


def test_webhook_records_good_and_bad_signatures(webhook_receiver: WebhookReceiver) -> None:
    body = json.dumps({"event": "fax.sent", "job": 17}).encode()
    assert _post(webhook_receiver.url, body, sign(body, webhook_receiver.secret))[0] == 200
    assert _post(webhook_receiver.url, body, sign(body, "not-the-secret"))[0] == 200
    assert _post(webhook_receiver.url, body, None)[0] == 200
    good, bad, unsigned = webhook_receiver.wait_for(3, timeout=5)
    assert good.signature_valid and not bad.signature_valid and not unsigned.signature_valid
    assert good.json == {"event": "fax.sent", "job": 17} and good.body == body
    assert good.header(SIGNATURE_HEADER.lower()) == sign(body, webhook_receiver.secret)
    assert good.path == "/hook"


def test_webhook_forced_statuses_then_recovers(webhook_receiver: WebhookReceiver) -> None:
    body = b'{"event": "fax.failed"}'
    signature = sign(body, webhook_receiver.secret)
    webhook_receiver.fail_next(2, 500)
    webhook_receiver.fail_next(1, 429)
    statuses = [_post(webhook_receiver.url, body, signature) for _ in range(4)]
    assert [s for s, _ in statuses] == [500, 500, 429, 200]
    assert statuses[2][1].get("Retry-After") == "1"
    assert [r.status for r in webhook_receiver.wait_for(4)] == [500, 500, 429, 200]
    for status in (408, 404):
        webhook_receiver.fail_next(1, status)
        assert _post(webhook_receiver.url, body, signature)[0] == status


def test_webhook_down_then_up_on_the_same_port(webhook_receiver: WebhookReceiver) -> None:
    url = webhook_receiver.url
    webhook_receiver.down()
    with pytest.raises(urllib.error.URLError) as refused:
        _post(url, b"{}", None)
    assert isinstance(refused.value.reason, ConnectionRefusedError)
    webhook_receiver.up()
    assert webhook_receiver.url == url
    assert _post(url, b"{}", sign(b"{}", webhook_receiver.secret))[0] == 200
    assert webhook_receiver.wait_for(1)[0].signature_valid


# -- headless browser ------------------------------------------------------------------------------------------


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text(
        "<!doctype html><html><head><meta name='viewport' content='width=device-width'><title>kit</title></head>"
        "<body><h1 id='status'>Fax queue: 3 waiting</h1></body></html>"
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def test_browser_reads_a_local_page_and_takes_screenshots(browser: Any, site: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(site)
    assert browser.title == "kit"
    assert browser.find_element(By.ID, "status").text == "Fax queue: 3 waiting"
    desktop = screenshot(browser, tmp_path / "desktop.png", *kit_browser.DESKTOP)
    phone = screenshot(browser, tmp_path / "phone.png", *kit_browser.PHONE)
    assert desktop.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png_size(desktop) == kit_browser.DESKTOP
    assert png_size(phone) == kit_browser.PHONE


def test_browser_never_uses_selenium_manager() -> None:
    try:
        _, driver_path = kit_browser.find_chromium()
    except kit_browser.BrowserUnavailable as err:
        pytest.skip(str(err))
    from selenium.webdriver import ChromeOptions
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.driver_finder import DriverFinder
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    with selenium_manager_forbidden():
        with pytest.raises(kit_browser.SeleniumManagerCalled):
            SeleniumManager().binary_paths(["--browser", "chrome"])
        # With an explicit driver path selenium resolves the driver without asking its manager.
        finder = DriverFinder(Service(executable_path=driver_path), ChromeOptions())
        assert finder.get_driver_path() == driver_path
