"""The front-desk page as a WSGI application: routing, who is asking, CSRF, and the pages.

Every response carries the security headers (http.py). Values reach HTML only through Jinja2 with
autoescape on: file names are chosen by whoever drops a file, so `<script>` in one must stay text.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from jinja2 import Environment, PackageLoader, select_autoescape

from faxdropd.config import Config, WebConfig
from faxdropd.errors import FaxdropError
from faxdropd.web import actions, pages
from faxdropd.web.auth import FailureLimit, Users
from faxdropd.web.http import SECURITY_HEADERS, Request, Response
from faxdropd.web.reads import JournalView
from faxdropd.web.sessions import Sessions, session_of, set_cookie

log = structlog.get_logger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
JOB_PATH = re.compile(r"/jobs/([0-9a-f]{1,64})(?:/(receipt\.json|document|confirm/[a-z]+|[a-z]+))?")
STATIC = {"style.css": "text/css; charset=utf-8", "live.js": "text/javascript; charset=utf-8"}
OPEN_PATHS = ("/healthz", "/readyz")  # no job data: monitoring needs no password


class WebApp:
    def __init__(
        self,
        cfg: Callable[[], Config],
        view: JournalView,
        folder_up: Callable[[], dict[str, bool]],
        health: Mapping[str, WsgiApp] | None = None,
    ) -> None:
        self.cfg = cfg
        self.view = view
        self.folder_up = folder_up
        # The daemon's own /healthz and /readyz (daemon/endpoints.py:health_routes), as on the metrics listener.
        self.health = dict(health or {})
        web = cfg().web
        assert web is not None
        self.web: WebConfig = web
        self.users = Users(web.users_file) if web.users_file is not None else None
        self.limit = FailureLimit()
        self.sessions = Sessions()
        self.env = Environment(
            loader=PackageLoader("faxdropd.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.static = {name: (resources.files("faxdropd.web") / "static" / name).read_bytes() for name in STATIC}

    # -- WSGI ---------------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        req = Request.from_environ(environ)
        mounted = self.health.get(req.path)
        if mounted is not None:
            return mounted(environ, _with_security_headers(start_response))
        try:
            resp = self.handle(req)
        except Exception:
            log.exception("web.error", path=req.path)
            resp = Response.text("internal error; see the daemon's log", 500)
        status, headers, body = resp.wsgi()
        start_response(status, headers)
        return body

    def handle(self, req: Request) -> Response:
        if req.path in OPEN_PATHS:
            return self._health()
        if req.path.startswith("/static/"):
            name = req.path.removeprefix("/static/")
            if name in STATIC:
                return Response(self.static[name], 200, STATIC[name])
            return Response.text("not found", 404)
        denied = self._authenticate(req)
        if denied is not None:
            return denied
        if req.method == "POST":
            return self._post(req)
        if req.method not in ("GET", "HEAD"):
            return Response.text("method not allowed", 405)
        if req.path == "/":
            return self._page(req, "dashboard.html", pages.dashboard(self.cfg(), self.view, self.folder_up))
        if req.path == "/api/dashboard":
            return Response.json(pages.dashboard(self.cfg(), self.view, self.folder_up))
        if req.path == "/jobs":
            return self._search(req)
        match = JOB_PATH.fullmatch(req.path)
        if match:
            return self._job(req, match.group(1), match.group(2) or "")
        return self._page(req, "message.html", {"title": "Not found", "message": "There is no such page."}, 404)

    # -- who is asking ------------------------------------------------------------------------------------

    def _authenticate(self, req: Request) -> Response | None:
        header = self.web.trusted_proxy_header
        # Only a proxy on this host may vouch for a user: anyone else reaching the port could forge the header.
        if header and req.header(header) and _loopback(req.client):
            req.user = str(req.header(header))
            return None
        if self.web.auth == "none":
            if header:
                return Response.text(f"this page is reached through the proxy that sets {header}", 401)
            req.user = "anonymous"
            return None
        if self.limit.blocked(req.client):
            log.warning("web.login_limited", client=req.client)
            return Response(b"too many failed logins; wait a minute", 429, headers=[("Retry-After", "60")])
        name, password = _basic(req.header("authorization"))
        if name is not None and self.users is not None and self.users.check(name, password):
            req.user = name
            return None
        if name is not None:
            self.limit.failed(req.client)
            log.warning("web.login_failed", user=name, client=req.client)
        return Response(b"authentication required", 401, "text/plain", [("WWW-Authenticate", 'Basic realm="faxdropd"')])

    # -- pages --------------------------------------------------------------------------------------------

    def _page(self, req: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
        session_id, token, new = self.sessions.token_for(session_of(req.header("cookie") or ""))
        html = self.env.get_template(template).render(
            **context, csrf=token, user=req.user, actions_enabled=self.web.actions, documents=self.web.documents
        )
        resp = Response(html.encode(), status)
        if new:
            secure = req.environ.get("wsgi.url_scheme") == "https"
            resp.headers.append(("Set-Cookie", set_cookie(session_id, secure)))
        return resp

    def _search(self, req: Request) -> Response:
        cfg = self.cfg()
        search, problem = pages.parse_search(req.query, cfg)
        rows, more = self.view.search(search)
        now = time.time()
        base = {k: v for k, v in req.query.items() if k in ("q", "folder", "state", "since") and v}
        return self._page(
            req,
            "jobs.html",
            {
                "rows": [pages.row_view(r, now) for r in rows],
                "search": search,
                "query": base,
                "problem": problem,
                "more": more,
                "folders": [f.name for f in cfg.folders],
                "states": pages.STATE_LABELS,
            },
        )

    def _job(self, req: Request, job_id: str, part: str) -> Response:
        job = self.view.job(job_id)
        if job is None:
            return self._page(req, "message.html", {"title": "No such job", "message": f"No job {job_id}."}, 404)
        if part == "receipt.json":
            receipt = pages.receipt_of(job)
            if receipt is None:
                return Response.text("this job has no receipt yet", 404)
            resp = Response.json(receipt)
            resp.headers.append(("Content-Disposition", f'attachment; filename="{job.id}.receipt.json"'))
            return resp
        if part == "document":
            return self._document(job.final_path or job.work_path, job.id)
        if part.startswith("confirm/"):
            action = actions.ACTIONS.get(part.removeprefix("confirm/"))
            if not self.web.actions or action is None or not action.applies(job, self.view.held(job) is not None):
                return Response.redirect(f"/jobs/{job.id}")
            return self._page(req, "confirm.html", {"job": job, "action": action})
        if part:
            return Response.text("not found", 404)
        context = pages.job_detail(job, self.view.events(job.id))
        held = self.view.held(job)
        context["held"] = held
        context["actions"] = actions.available(job, held is not None) if self.web.actions else []
        context["done"] = req.query.get("done", "")
        return self._page(req, "job.html", context)

    def _document(self, path: str, job_id: str) -> Response:
        if not self.web.documents:
            return Response.text("documents are not served (web.documents: false)", 403)
        try:
            data = Path(path).read_bytes()
        except OSError:
            return Response.text("the document is no longer where the journal last saw it", 404)
        headers = [("Content-Disposition", f'attachment; filename="{job_id}{Path(path).suffix[:10]}"')]
        return Response(data, 200, "application/octet-stream", headers)

    def _post(self, req: Request) -> Response:
        origin = req.header("origin")
        host = req.header("host")
        if origin and host and origin.split("://", 1)[-1] != host:
            return Response.text("cross-origin request refused", 403)
        match = JOB_PATH.fullmatch(req.path)
        if match is None or not match.group(2) or match.group(2) not in actions.ACTIONS:
            return Response.text("not found", 404)
        form = req.form()
        if not self.sessions.valid(session_of(req.header("cookie") or ""), form.get("csrf")):
            log.warning("web.csrf_refused", path=req.path, user=req.user, client=req.client)
            return Response.text("refused: the form's token is missing or stale; reload the page and try again", 403)
        if not self.web.actions:
            return Response.text("actions are turned off (web.actions: false)", 403)
        job = self.view.job(match.group(1))
        if job is None:
            return Response.text("no such job", 404)
        try:
            done = actions.perform(self.cfg(), match.group(2), job, self.view.held(job) is not None, req.user)
        except (actions.ActionRefused, FaxdropError) as exc:
            return self._page(req, "message.html", {"title": "Not done", "message": str(exc), "job": job}, 409)
        return self._page(req, "message.html", {"title": "Done", "message": done, "job": job})

    def _health(self) -> Response:
        """Without the daemon's probes (a page served on its own, in tests): the journal can be read."""
        if self.view.readable():
            return Response.json({"status": "ok"})
        return Response.json({"status": "the journal cannot be read"}, 503)


def _basic(header: str | None) -> tuple[str | None, str]:
    if not header or not header.lower().startswith("basic "):
        return None, ""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else (None, "")


def _with_security_headers(start_response: StartResponse) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
        return start_response(status, [*headers, *SECURITY_HEADERS], *rest)

    return start


def _loopback(client: str) -> bool:
    return client in ("127.0.0.1", "::1") or client.startswith("127.")
