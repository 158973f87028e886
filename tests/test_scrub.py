"""The scrubber masks a secret and its encodings, never parts of it; a secret too short to mask is refused by the
config with its key path and exit 78 (issue #16)."""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
import structlog
import yaml

from faxdropd import log
from faxdropd.log import scrub

SECRET = "Horse&Battery <Staple> 'x'/+é"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("JOURNAL_STREAM", "INVOCATION_ID"):
        monkeypatch.delenv(var, raising=False)
    yield
    scrub.forget_secrets()
    root = logging.getLogger()
    for h in [h for h in root.handlers if getattr(h, "_faxdropd", False)]:
        root.removeHandler(h)
    structlog.reset_defaults()


def logged(**fields: object) -> str:
    buf = io.StringIO()
    log.configure("json", "info", buf)
    log.get_logger().info("interfax.call", **fields)
    return buf.getvalue()


def test_every_encoding_of_the_secret_is_masked() -> None:
    log.register_secret(SECRET)
    forms = {
        "raw": SECRET,
        "url": quote(SECRET, safe=""),
        "url_plus": quote_plus(SECRET),
        "xml": html.escape(SECRET),
        "b64": base64.b64encode(SECRET.encode()).decode(),
        "b64_unpadded": base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    }
    out = logged(**{k: f"<{v}>" for k, v in forms.items()})
    event = json.loads(out)
    for key, form in forms.items():
        assert form not in out, key
        assert event[key] == "<***>", key


def test_parts_of_the_secret_are_left_alone() -> None:
    log.register_secret("correct-horse-battery")
    event = json.loads(logged(folder="horse", file="battery-correct.pdf", note="correct-horse-battery!"))
    assert event["folder"] == "horse" and event["file"] == "battery-correct.pdf"
    assert event["note"] == "***!"


def test_a_secret_under_the_floor_is_never_registered() -> None:
    log.register_secret("abcdefg")  # seven characters: the config refuses it; here it would blank words
    assert json.loads(logged(folder="abcdefgh"))["folder"] == "abcdefgh"


def _run(
    tmp_path: Path, interfax: dict[str, object], command: str, env: dict[str, str], **settings: object
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "hot").mkdir(exist_ok=True)
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "acme", **interfax},
        "state_dir": str(tmp_path / "state"),
        "folders": [{"path": str(tmp_path / "hot"), "to": "+99999990"}],
        **settings,
    }
    cfg = tmp_path / "faxdropd.yaml"
    cfg.write_text(yaml.safe_dump(data))
    cfg.chmod(0o600)
    return subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(cfg), command],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


@pytest.mark.parametrize(
    ("interfax", "command", "key"),
    [
        ({"password": "hunter2"}, "check-config", "interfax.password"),
        ({"password_env": "FAXDROPD_SHORT_PW"}, "run", "interfax.password_env"),
        ({"password_env": "FAXDROPD_SHORT_PW"}, "check-config", "interfax.password_env"),
    ],
)
def test_a_short_secret_is_refused_at_config_time(
    tmp_path: Path, interfax: dict[str, object], command: str, key: str
) -> None:
    proc = _run(tmp_path, interfax, command, {"FAXDROPD_SHORT_PW": "short"})
    assert proc.returncode == 78, proc.stderr
    assert key in proc.stderr and "too short to be kept out of logs safely" in proc.stderr
    assert "hunter2" not in proc.stderr + proc.stdout


def test_a_secret_at_the_floor_passes(tmp_path: Path) -> None:
    proc = _run(tmp_path, {"password": "8chars!!"}, "check-config", {})
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("channel", ["smtp", "webhook"])
def test_a_short_notification_secret_is_refused_at_config_time(tmp_path: Path, channel: str) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("short7!\n")
    secret_file.chmod(0o600)
    if channel == "smtp":
        smtp = {"host": "127.0.0.1", "from": "Fax <fax@example.org>", "username": "fax"}
        notify: dict[str, object] = {"smtp": {**smtp, "password_file": str(secret_file)}}
        key = "notify.smtp.password_file"
    else:
        notify = {"webhooks": ["http://127.0.0.1:9/hook"], "webhook_secret_file": str(secret_file)}
        key = "notify.webhook_secret_file"
    proc = _run(tmp_path, {"password": "8chars!!"}, "check-config", {}, notify=notify)
    assert proc.returncode == 78, proc.stderr
    assert key in proc.stderr and "too short to be kept out of logs safely" in proc.stderr
    assert "short7!" not in proc.stderr + proc.stdout
