"""Every kit fixture in one pytest plugin: `pytest_plugins = ["kit.plugin"]` in tests/conftest.py enables them all."""

from __future__ import annotations

from .browser import _browser_session, browser
from .pg import pg_cluster, pg_dsn
from .sdnotify import notify
from .smtp import smtp_server, smtp_tls_server
from .webhook import webhook_receiver

__all__ = [
    "_browser_session",
    "browser",
    "notify",
    "pg_cluster",
    "pg_dsn",
    "smtp_server",
    "smtp_tls_server",
    "webhook_receiver",
]
