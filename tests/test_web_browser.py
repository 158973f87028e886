"""The front-desk page in a real browser (headless Chromium), served by a running daemon that sends to the
emulator: what the front desk sees, what it can do, and what it must not be tricked into."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import PASSWORD, DaemonProcess, arm_fault, documents, drop, receipts, wait_for, write_config
from kit import browser as kit_browser
from kit.journals import JournalBackend
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By

from faxdropd.document.sample import make_sample_pdf

HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)<\\script>.pdf'
# The kit's fixtures, by assignment (as tests/test_kit.py does): one Chromium serves the module.
_browser_session = kit_browser._browser_session
browser = kit_browser.browser
OK_NUMBER = "+12125550100"
FAILING_NUMBER = "+99999996017"  # the emulator's simulator: this fax ends with status 6017


def start(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], web: dict[str, Any], **extra: Any
) -> tuple[DaemonProcess, str, Path, Path]:
    front, clinic = tmp_path / "front", tmp_path / "clinic"
    front.mkdir()
    clinic.mkdir()
    folders = [
        {"path": str(front), "name": "front", "to": OK_NUMBER},
        {"path": str(clinic), "name": "clinic", "to": FAILING_NUMBER},
    ]
    cfg = write_config(tmp_path, emulator.url, folders, extra={"web": {"listen": "127.0.0.1:0", **web}, **extra})
    d = DaemonProcess(cfg, tmp_path / "daemon.log").start()
    daemons.append(d)
    [url] = [e["url"] for e in d.events() if e.get("event") == "web.listening"]
    return d, url.rstrip("/"), front, clinic


def no_alert(driver: Any) -> bool:
    try:
        _ = driver.switch_to.alert
    except NoAlertPresentException:
        return True
    return False


def test_dashboard_job_page_and_hostile_name(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], browser: Any
) -> None:
    _d, url, front, clinic = start(tmp_path, emulator, daemons, {"auth": "none"})
    drop(front, "letter.pdf", make_sample_pdf(pages=1, text="letter"))
    drop(front, HOSTILE, make_sample_pdf(pages=1, text="hostile"))
    wait_for(lambda: len(receipts(front / "sent")) == 2, 60, what="two deliveries")

    browser.get(url + "/")
    assert "No failures" in browser.find_element(By.ID, "failures").text
    drop(clinic, "lab-results.pdf", make_sample_pdf(pages=2, text="lab"))
    # The open page updates itself (live.js polling /api/dashboard): no reload here.
    wait_for(lambda: "lab-results.pdf" in browser.find_element(By.ID, "failures").text, 60, what="a live update")
    assert receipts(clinic / "failed")
    recent = browser.find_element(By.ID, "recent")
    rows = {
        r.find_element(By.CSS_SELECTOR, "td.file a").text: r.text
        for r in recent.find_elements(By.CSS_SELECTOR, "tbody tr")
    }
    assert "delivered" in rows["letter.pdf"]
    assert "failed" in rows["lab-results.pdf"]
    failures = browser.find_element(By.ID, "failures").text
    assert "lab-results.pdf" in failures and "letter.pdf" not in failures
    assert "Sending OK" in browser.find_element(By.ID, "sending").text

    # The hostile name is text: visible as written, no element made of it, no alert.
    assert HOSTILE in rows
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert no_alert(browser)

    # The failed job's page: its timeline from claim to failed, and the reason in words.
    browser.find_element(By.LINK_TEXT, "lab-results.pdf").click()
    wait_for(lambda: browser.find_elements(By.ID, "timeline"), 10, what="the job page")
    steps = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert len(steps) >= 3, steps
    assert "waiting" in steps[0] and "failed" in steps[-1]
    assert FAILING_NUMBER in browser.find_element(By.CSS_SELECTOR, ".facts").text

    browser.get(url + "/")
    browser.find_element(By.LINK_TEXT, HOSTILE).click()
    wait_for(lambda: browser.find_elements(By.ID, "timeline"), 10, what="the hostile job's page")
    assert browser.find_element(By.CSS_SELECTOR, "h1.file").text == HOSTILE
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script") == []
    assert no_alert(browser)


def test_retry_from_the_page_and_post_without_token(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], browser: Any, journal_backend: JournalBackend
) -> None:
    # The daemon's page reads the journal (dashboard, job page) through its own read-only connection and
    # retries through it: on either backend. The formatting-only browser tests stay on SQLite.
    _d, url, front, _clinic = start(tmp_path, emulator, daemons, {"auth": "none"}, **journal_backend.config_extra())
    arm_fault(emulator, op="SendfaxEx_2", kind="error", code=-112, count=1)  # permanent: the job fails once
    drop(front, "invoice.pdf", make_sample_pdf(pages=1, text="invoice"))
    wait_for(lambda: receipts(front / "failed"), 60, what="the failure")

    browser.get(url + "/")
    browser.find_element(By.LINK_TEXT, "invoice.pdf").click()
    wait_for(lambda: browser.find_elements(By.ID, "timeline"), 10, what="the job page")
    job_url = browser.current_url

    # A POST without the token (same origin, session cookie sent) is refused and changes nothing.
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch(location.pathname + '/retry', {method: 'POST', body: new URLSearchParams({confirm: '1'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403
    assert [p.name for p in documents(front / "failed")] == ["invoice.pdf"]

    browser.find_element(By.LINK_TEXT, "Retry…").click()
    assert "/confirm/retry" in browser.current_url and "?" not in browser.current_url
    browser.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]").click()
    wait_for(lambda: browser.current_url == f"{job_url}/retry", 30, what="the answer to Retry")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Done"
    wait_for(lambda: receipts(front / "sent"), 60, what="the retried fax delivered")
    assert documents(front / "failed") == []
    browser.get(url + "/")
    rows = browser.find_element(By.ID, "recent").text
    assert "invoice.pdf" in rows and "delivered" in rows
    assert job_url.startswith(url + "/jobs/")


def _login(driver: Any, name: str, password: str) -> None:
    token = base64.b64encode(f"{name}:{password}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {token}"}})


def test_basic_auth_refuses_a_wrong_password(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], browser: Any
) -> None:
    users = tmp_path / "web-users"
    cfg_probe = write_config(tmp_path, emulator.url, [{"path": str(tmp_path), "to": OK_NUMBER}], name="probe.yaml")
    made = subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(cfg_probe), "web-user", "alice", "--file", str(users)],
        input="correct horse battery\n",
        capture_output=True,
        text=True,
        env={"FAXDROPD_TEST_PASSWORD": PASSWORD, **os.environ},
        check=False,
    )
    assert made.returncode == 0, made.stderr
    d, url, _front, _clinic = start(tmp_path, emulator, daemons, {"auth": "basic", "users_file": str(users)})

    _login(browser, "alice", "wrong password")
    browser.get(url + "/")
    # Chromium answers the 401 challenge with its (headless: invisible) login prompt: no page is shown.
    assert browser.find_elements(By.ID, "sending") == []
    assert "lab" not in browser.page_source
    wait_for(lambda: [e for e in d.events() if e.get("event") == "web.login_failed" and e["user"] == "alice"], 10)

    try:
        _login(browser, "alice", "correct horse battery")
        browser.get(url + "/")
        assert "Sending OK" in browser.find_element(By.ID, "sending").text
        assert browser.find_element(By.CSS_SELECTOR, ".user").text == "alice"
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})  # the browser serves the module
    assert requests.get(url + "/", timeout=10).status_code == 401


pytestmark = pytest.mark.slow


def test_hold_release_and_cancel_through_the_operators_commands(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess], browser: Any
) -> None:
    # One fax an hour: the second document waits (deferred), not yet at InterFAX.
    d, url, front, _clinic = start(tmp_path, emulator, daemons, {"auth": "none"}, limits={"faxes_per_hour": 1})
    drop(front, "first.pdf", make_sample_pdf(pages=1, text="first"))
    wait_for(lambda: receipts(front / "sent"), 60, what="the first fax")
    drop(front, "waiting.pdf", make_sample_pdf(pages=1, text="waiting"))
    browser.get(url + "/")
    wait_for(lambda: browser.find_elements(By.LINK_TEXT, "waiting.pdf"), 30, what="the job listed")
    browser.find_element(By.LINK_TEXT, "waiting.pdf").click()
    job_url = browser.current_url

    def act(label: str) -> str:
        browser.get(job_url)
        browser.find_element(By.LINK_TEXT, f"{label}…").click()
        browser.find_element(By.CSS_SELECTOR, "form.confirm button[type=submit]").click()
        # The answer to the POST is at the action's own URL (the confirmation page's is .../confirm/<action>).
        wait_for(lambda: browser.current_url == f"{job_url}/{label.lower()}", 30, what=f"the answer to {label}")
        return str(browser.find_element(By.TAG_NAME, "h1").text)

    assert act("Hold") == "Done"
    browser.get(job_url)
    assert "HELD" in browser.find_element(By.TAG_NAME, "main").text
    assert browser.find_elements(By.LINK_TEXT, "Hold…") == []
    assert act("Release") == "Done"
    browser.get(job_url)
    assert "HELD" not in browser.find_element(By.TAG_NAME, "main").text
    assert act("Cancel") == "Done"
    wait_for(lambda: receipts(front / "failed"), 30, what="the cancelled job filed")
    assert [p.name for p in documents(front / "failed")] == ["waiting.pdf"]
    [receipt] = receipts(front / "failed")
    assert "cancel" in receipt["reason"] and "front-desk page" in receipt["reason"]
    actions = [(e["action"], e["user"]) for e in d.events() if e.get("event") == "web.action"]
    assert actions == [("hold", "anonymous"), ("release", "anonymous"), ("cancel", "anonymous")]
