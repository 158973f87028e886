"""The front-desk page without a browser: config rules, passwords, sessions and CSRF, headers, escaping,
search, and the read-only journal view. (The browser tests are in test_web_browser.py.)"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from kit.journals import JournalBackend

from faxdropd.cli.main import main
from faxdropd.config import Config, parse_config
from faxdropd.errors import ConfigError
from faxdropd.jobs.journal import Journal, new_job_id
from faxdropd.jobs.schema import Job, State, journal_path
from faxdropd.store.conn import DB_ERRORS
from faxdropd.store.database import Target
from faxdropd.web import auth
from faxdropd.web.app import WebApp
from faxdropd.web.reads import PAGE_SIZE, JournalView, Search

HOSTILE = "<script>alert(1)</script>"


def config(tmp_path: Path, backend: JournalBackend | None = None, **web: Any) -> Config:
    hot = tmp_path / "hot"
    hot.mkdir(exist_ok=True)
    data = {
        **(backend.config_extra() if backend else {}),
        "interfax": {"url": "embedded", "username": "demo", "password": "demo-password"},
        "state_dir": str(tmp_path / "state"),
        "folders": [{"path": str(hot), "name": "front", "to": "+12125550100"}],
        "web": {"listen": "127.0.0.1:0", **web},
    }
    return parse_config(data, base_dir=tmp_path)


def add_job(journal: Journal, name: str, state: State = State.DELIVERED, **fields: Any) -> Job:
    job_id = new_job_id()
    job = journal.create(
        Job(
            id=job_id,
            reference=f"fd-{job_id}",
            folder="front",
            hot="/hot",
            name=name,
            work_path=f"/work/{job_id}",
            sidecar_path=None,
            state=State.CLAIMED,
            numbers=["+12125550100"],
        )
    )
    return journal.transition(job, state, f"to {state}", **fields) if state != State.CLAIMED else job


class Client:
    """Calls the WSGI app as waitress would, keeping the session cookie like a browser."""

    def __init__(self, app: WebApp, client: str = "127.0.0.1") -> None:
        self.app, self.client, self.cookie = app, client, ""

    def request(
        self, method: str, path: str, body: str = "", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], str]:
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path.partition("?")[0]}
        environ["QUERY_STRING"] = path.partition("?")[2]
        environ["REMOTE_ADDR"] = self.client
        environ["wsgi.input"] = io.BytesIO(body.encode())
        environ["CONTENT_LENGTH"] = str(len(body.encode()))
        if self.cookie:
            environ["HTTP_COOKIE"] = self.cookie
        for key, value in (headers or {}).items():
            environ["HTTP_" + key.upper().replace("-", "_")] = value
        setup_testing_defaults(environ)
        seen: dict[str, Any] = {}

        def start_response(status: str, hdrs: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), dict(hdrs)

        text = b"".join(self.app(environ, start_response)).decode()
        if "Set-Cookie" in seen["headers"]:
            self.cookie = seen["headers"]["Set-Cookie"].split(";")[0]
        return seen["status"], seen["headers"], text

    def get(self, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
        return self.request("GET", path, headers=headers)


def view_of(cfg: Config, backend: JournalBackend) -> JournalView:
    """The page's read-only view of the journal on the backend under test."""
    return JournalView(cfg.state_dir, Target(journal_path(cfg.state_dir), backend.url))


def open_site(tmp_path: Path, backend: JournalBackend) -> Iterator[tuple[Config, Journal, WebApp]]:
    cfg = config(tmp_path, backend)
    journal = backend.open(cfg.state_dir, exit_on_failure=False)
    app = WebApp(lambda: cfg, view_of(cfg, backend), lambda: {"front": True})
    yield cfg, journal, app
    journal.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, Journal, WebApp]]:
    """For the page's own behaviour (headers, escaping): SQLite is enough."""
    yield from open_site(tmp_path, JournalBackend("sqlite"))


@pytest.fixture
def journal_site(tmp_path: Path, journal_backend: JournalBackend) -> Iterator[tuple[Config, Journal, WebApp]]:
    """For what the page reads from or does to the journal: on both backends."""
    yield from open_site(tmp_path, journal_backend)


# --- config ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("listen", ["0.0.0.0:8025", "192.168.1.5:8025", "[::]:8025", "fax.example:8025"])
def test_auth_none_is_refused_off_loopback(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(tmp_path, listen=listen, auth="none")
    assert "web.auth" in str(err.value)


@pytest.mark.parametrize("listen", ["127.0.0.1:8025", "[::1]:8025", "localhost:8025", "127.0.0.2:0"])
def test_auth_none_on_loopback_is_accepted(tmp_path: Path, listen: str) -> None:
    assert config(tmp_path, listen=listen).web is not None


def test_web_is_off_without_the_block_and_basic_needs_users(tmp_path: Path) -> None:
    data = {
        "interfax": {"url": "embedded", "username": "demo", "password": "demo-password"},
        "folders": [{"path": str(tmp_path), "to": "+12125550100"}],
    }
    assert parse_config(data, base_dir=tmp_path).web is None
    with pytest.raises(ConfigError) as err:
        config(tmp_path, listen="0.0.0.0:8025", auth="basic")
    assert "web.users_file" in str(err.value)


def test_check_config_exits_78_on_an_open_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOPE", "a password")
    path = tmp_path / "faxdropd.yaml"
    path.write_text(
        "interfax: {url: embedded, username: demo, password_env: NOPE}\n"
        f"folders: [{{path: {tmp_path}, to: '+12125550100'}}]\n"
        "web: {listen: '0.0.0.0:8025', auth: none}\n"
    )
    assert main(["-c", str(path), "check-config"]) == 78
    [problem] = [line for line in capsys.readouterr().err.splitlines() if "is refused" in line]
    assert problem.startswith("web.auth:")


# --- passwords ------------------------------------------------------------------------------------------------


def test_scrypt_hash_carries_its_parameters() -> None:
    stored = auth.hash_password("correct horse", n=2**14)
    scheme, n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
    assert auth.verify_password("correct horse", stored)
    assert not auth.verify_password("correct horsf", stored)
    assert auth.hash_password("correct horse", n=2**14) != stored  # a fresh salt each time
    # Parameters outside the allowed range are refused, not run (a memory bomb in a writable users file).
    assert not auth.verify_password("x", stored.replace("$16384$", "$1048576$"))
    with pytest.raises(ValueError):
        auth.hash_password("x", n=2**12)


def test_web_user_writes_a_line_read_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "web-users"
    path = tmp_path / "faxdropd.yaml"
    path.write_text(
        "interfax: {url: embedded, username: demo, password_env: NOPE}\n"
        f"folders: [{{path: {tmp_path}, to: '+12125550100'}}]\n"
        f"web: {{listen: '0.0.0.0:8025', auth: basic, users_file: {users}}}\n"
    )
    monkeypatch.setenv("NOPE", "a password")
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-enough\n"))
    assert main(["-c", str(path), "web-user", "alice"]) == 0
    assert users.stat().st_mode & 0o777 == 0o600
    [line] = users.read_text().splitlines()
    assert line.startswith("alice:scrypt$") and "s3cret" not in line
    assert auth.Users(users).check("alice", "s3cret-enough")
    assert not auth.Users(users).check("alice", "s3cret-enougH")
    assert not auth.Users(users).check("bob", "s3cret-enough")
    capsys.readouterr()


def test_basic_auth_and_the_failed_login_limit(tmp_path: Path) -> None:
    users = tmp_path / "users"
    auth.write_user(users, "alice", "right password", n=2**14)
    cfg = config(tmp_path, listen="0.0.0.0:0", auth="basic", users_file=str(users))
    app = WebApp(lambda: cfg, JournalView(cfg.state_dir), dict)
    Journal(cfg.state_dir, exit_on_failure=False).close()
    browser = Client(app, client="10.0.0.7")

    def basic(password: str) -> str:
        return "Basic " + base64.b64encode(f"alice:{password}".encode()).decode()

    assert browser.get("/")[0] == 401
    assert browser.get("/", authorization=basic("right password"))[0] == 200
    for _ in range(app.limit.limit):
        status, headers, _ = browser.get("/", authorization=basic("guess"))
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic")
    # Limited now: even the right password waits, so guessing cannot go on at full speed.
    assert browser.get("/", authorization=basic("right password"))[0] == 429
    assert Client(app, client="10.0.0.8").get("/", authorization=basic("right password"))[0] == 200


def test_a_proxy_header_counts_only_from_this_host(tmp_path: Path) -> None:
    users = tmp_path / "users"
    auth.write_user(users, "alice", "right password", n=2**14)
    cfg = config(tmp_path, auth="basic", users_file=str(users), trusted_proxy_header="X-Remote-User")
    Journal(cfg.state_dir, exit_on_failure=False).close()
    app = WebApp(lambda: cfg, JournalView(cfg.state_dir), dict)
    status, _, page = Client(app).get("/", x_remote_user="carol")
    assert status == 200 and '<span class="user">carol</span>' in page
    assert Client(app, client="10.0.0.9").get("/", x_remote_user="carol")[0] == 401


# --- pages ----------------------------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers(site: tuple[Config, Journal, WebApp]) -> None:
    client = Client(site[2])
    for path in ("/", "/jobs", "/jobs/abc", "/nope", "/static/live.js", "/api/dashboard", "/healthz"):
        _, headers, _ = client.get(path)
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
    client = Client(site[2])
    _, headers, _ = client.get("/")
    assert client.cookie.startswith("faxdropd_session=")
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]


def test_no_inline_script_or_style_in_any_page(site: tuple[Config, Journal, WebApp]) -> None:
    _cfg, journal, app = site
    job = add_job(journal, "a.pdf", State.FAILED, reason="busy line", final_path="/nowhere/a.pdf")
    for path in ("/", "/jobs", f"/jobs/{job.id}", f"/jobs/{job.id}/confirm/retry"):
        page = Client(app).get(path)[2]
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert "<style" not in page and " style=" not in page and not re.search(r" on[a-z]+=", page), path


def test_a_hostile_file_name_is_escaped_everywhere(site: tuple[Config, Journal, WebApp]) -> None:
    _cfg, journal, app = site
    job = add_job(journal, f"{HOSTILE}.pdf", State.FAILED, reason=f"rejected {HOSTILE}")
    client = Client(app)
    for path in ("/", f"/jobs?q={HOSTILE[:8]}", f"/jobs/{job.id}"):
        page = client.get(path)[2]
        assert HOSTILE not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;.pdf" in page, path
    assert f"{HOSTILE}.pdf" in client.get("/api/dashboard")[2]  # JSON: the script renders it with textContent


# Runs on both backends: the search's SQLite planner hint and `instr` are translated for PostgreSQL
# (store/dialect.py:to_postgres).
def test_search_by_name_number_id_and_reference_with_pages(
    journal_site: tuple[Config, Journal, WebApp], journal_backend: JournalBackend
) -> None:
    _cfg, journal, app = journal_site
    jobs = [add_job(journal, f"scan-{i:03}.pdf") for i in range(PAGE_SIZE + 5)]
    other = add_job(journal, "hospital referral.pdf", State.FAILED, numbers=["+442071234567"])
    view = view_of(_cfg, journal_backend)
    assert [r.id for r in view.search(Search(q="referral"))[0]] == [other.id]
    assert [r.id for r in view.search(Search(q="020 7123 4567"[-9:]))[0]] == [other.id]
    assert [r.id for r in view.search(Search(q="+44 20 7123"))[0]] == [other.id]
    assert [r.id for r in view.search(Search(q=jobs[3].id))[0]] == [jobs[3].id]
    assert [r.id for r in view.search(Search(q=jobs[4].reference))[0]] == [jobs[4].id]
    assert [r.id for r in view.search(Search(state="failed"))[0]] == [other.id]
    assert view.search(Search(q="100%"))[0] == []  # LIKE wildcards in the query are literal
    first, more = view.search(Search(q="scan-"))
    second, last = view.search(Search(q="scan-", page=2))
    assert len(first) == PAGE_SIZE and more and len(second) == 5 and not last
    assert {r.id for r in first + second} == {j.id for j in jobs}
    page = Client(app).get("/jobs?q=scan-")[2]
    assert "page=2" in page and "Older" in page


def test_the_job_page_shows_the_timeline_and_deliveries(journal_site: tuple[Config, Journal, WebApp]) -> None:
    _cfg, journal, app = journal_site
    item = {
        "transaction_id": 4711,
        "number": "+12125550100",
        "status": 0,
        "meaning": "delivered",
        "pages_sent": 2,
        "duration": 40,
        "remote_csid": "CLINIC-FAX",
        "trials": 1,
        "cost": "0.20",
        "completed_at": None,
    }
    job = add_job(journal, "x.pdf", State.SUBMITTED, transaction_ids=[4711])
    job = journal.transition(job, State.DELIVERED, "delivered to all", delivery={"items": {"4711": item}}, pages=2)
    page = Client(app).get(f"/jobs/{job.id}")[2]
    assert page.count("<li>") == 3 and "delivered to all" in page
    for text in ("CLINIC-FAX", "0.20", "4711", "+12125550100"):
        assert text in page
    assert "/document" not in page  # web.documents is off by default
    assert Client(app).get(f"/jobs/{job.id}/document")[0] == 403


def test_the_view_cannot_write(journal_site: tuple[Config, Journal, WebApp], journal_backend: JournalBackend) -> None:
    cfg, journal, _app = journal_site
    add_job(journal, "a.pdf")
    view = view_of(cfg, journal_backend)
    assert len(view.recent()) == 1
    with pytest.raises(DB_ERRORS, match=r"read-?only"):
        view._db().execute("DELETE FROM jobs")
    journal.read(lambda conn: conn.execute("SELECT 1").fetchall())  # the journal itself is unharmed
    assert len(view_of(cfg, journal_backend).recent()) == 1


# --- actions --------------------------------------------------------------------------------------------------


def test_retry_needs_the_sessions_token(journal_site: tuple[Config, Journal, WebApp], tmp_path: Path) -> None:
    cfg, journal, app = journal_site
    failed = cfg.folders[0].failed
    failed.mkdir(parents=True)
    (failed / "letter.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    receipt = '{"reason": "the line was busy", "completed_at": "2026-12-04T10:00:00+00:00", "folder": "front"}'
    (failed / "letter.pdf.receipt.json").write_text(receipt)
    job = add_job(journal, "letter.pdf", State.FAILED, final_path=str(failed / "letter.pdf"))
    browser = Client(app)
    page = browser.get(f"/jobs/{job.id}/confirm/retry")[2]
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token is not None
    assert browser.request("POST", f"/jobs/{job.id}/retry", "")[0] == 403
    assert browser.request("POST", f"/jobs/{job.id}/retry", "csrf=forged")[0] == 403
    assert Client(app).request("POST", f"/jobs/{job.id}/retry", f"csrf={token.group(1)}")[0] == 403  # no cookie
    cross = {"Origin": "http://evil.example", "Host": "127.0.0.1:8025"}
    assert browser.request("POST", f"/jobs/{job.id}/retry", f"csrf={token.group(1)}", cross)[0] == 403
    assert (failed / "letter.pdf").exists()
    status, _, page = browser.request("POST", f"/jobs/{job.id}/retry", f"csrf={token.group(1)}")
    assert status == 200 and "Done" in page
    assert not (failed / "letter.pdf").exists() and (cfg.folders[0].path / "letter.pdf").exists()
    # Once more: the document is gone from failed/, so nothing happens twice.
    assert browser.request("POST", f"/jobs/{job.id}/retry", f"csrf={token.group(1)}")[0] == 409


def test_no_action_when_actions_are_off(tmp_path: Path) -> None:
    cfg = config(tmp_path, actions=False)
    journal = Journal(cfg.state_dir, exit_on_failure=False)
    job = add_job(journal, "a.pdf", State.FAILED, final_path=str(tmp_path / "a.pdf"))
    app = WebApp(lambda: cfg, JournalView(cfg.state_dir), dict)
    browser = Client(app)
    assert "Retry" not in browser.get(f"/jobs/{job.id}")[2]
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get(f"/jobs/{job.id}/confirm/retry")[2] or "")
    assert token is None  # the confirmation page redirects back
    journal.close()


def test_the_daemons_probes_are_mounted_with_the_headers(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    Journal(cfg.state_dir, exit_on_failure=False).close()

    def readyz(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("503 Service Unavailable", [("Content-Type", "application/json")])
        return [b'{"status": "not ready", "causes": ["sending is paused"]}']

    app = WebApp(lambda: cfg, JournalView(cfg.state_dir), dict, {"/readyz": readyz})
    status, headers, body = Client(app).get("/readyz")
    assert status == 503 and "sending is paused" in body
    assert headers["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in headers


def test_a_verified_password_is_remembered_until_the_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users_file = tmp_path / "users"
    auth.write_user(users_file, "alice", "right password", n=2**14)
    users = auth.Users(users_file)
    runs: list[str] = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda p, s: runs.append(p) or real(p, s))
    assert users.check("alice", "right password") and users.check("alice", "right password")
    assert runs == ["right password"]  # one scrypt run for two requests
    assert not users.check("alice", "wrong") and not users.check("alice", "wrong")
    assert runs.count("wrong") == 2  # a failure is never remembered
    auth.write_user(users_file, "alice", "new password", n=2**14)
    assert not users.check("alice", "right password")  # the old password stops working at once
    assert users.check("alice", "new password")
