"""The configuration: loading, inheritance, key-path errors, secrets, the routing table."""

from __future__ import annotations

import copy
import math
import os
import re
from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxdropd.config import (
    Config,
    ConfigProblems,
    check_paths,
    load_config,
    parse_config,
    render_routing_table,
)
from faxdropd.config.durations import format_duration, parse_duration
from faxdropd.config.model import SendWindow
from faxdropd.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "faxdropd.example.yaml"
SECRET = "hunter2-Zq9-very-secret"
ENV = {"FAXDROPD_PW": SECRET}


def minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "interfax": {
            "url": "https://ws.interfax.net/dfs.asmx",
            "username": "acme",
            "password_env": "FAXDROPD_PW",
        },
        "state_dir": "/var/lib/faxdropd",
        "folders": [{"path": "/srv/fax/a", "to": "+1 212 555 0100"}],
    }
    data.update(overrides)
    return data


def parse(data: dict[str, Any], base_dir: Path = Path("/etc/faxdropd"), env: dict[str, str] = ENV) -> Config:
    return parse_config(data, base_dir=base_dir, env=env)


def error_of(data: dict[str, Any], **kwargs: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data, **kwargs)
    return info.value


def example_copy(tmp_path: Path) -> Path:
    """The shipped example with its password source swapped for an environment variable."""
    text = EXAMPLE.read_text()
    line = "  password_file: /run/credentials/faxdropd.service/interfax-password\n"
    assert line in text
    target = tmp_path / "faxdropd.yaml"
    target.write_text(text.replace(line, "  password_env: FAXDROPD_PW\n"))
    target.chmod(0o640)
    return target


# --- durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (0, 0.0),
        (0.5, 0.5),
        ("30", 30.0),
        ("0.5", 0.5),
        ("30s", 30.0),
        ("5m", 300.0),
        ("24h", 86400.0),
        ("2d", 172800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        (" 5M ", 300.0),
        (".5s", 0.5),
        ("1.5h", 5400.0),
    ],
)
def test_parse_duration_accepts(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", [-1, "-5", "5x", "", "h", "5m5m", "1e5", True, None, [], math.nan, math.inf, 10**400, "m5"]
)
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match=r"\w+ \w+"):
        parse_duration(value)


def test_format_duration_round_trips() -> None:
    for seconds in (0.5, 5, 60, 90, 5400, 86400, 3661):
        assert parse_duration(format_duration(seconds)) == seconds
    assert format_duration(5400) == "1h30m"


# --- example


def test_example_loads(tmp_path: Path) -> None:
    cfg = load_config(example_copy(tmp_path), env=ENV)
    assert [f.name for f in cfg.folders] == ["accounting", "by-number", "scans"]
    assert cfg.interfax.password.get_secret_value() == SECRET
    assert cfg.retry.cap == 3600 and cfg.retry.initial == 30 and cfg.retry.lifetime == 86400
    assert cfg.limits.duplicate_window == 86400
    assert cfg.delivery.query_limit_per_minute == 6 and cfg.delivery.reconcile_grace == 60
    assert cfg.interfax.soap_version == "1.1" and cfg.interfax.connect_timeout == 10
    assert cfg.metrics is not None and (cfg.metrics.host, cfg.metrics.port) == ("127.0.0.1", 9464)
    scans = cfg.folders[2]
    assert scans.fax.page_size == "Letter" and scans.fax.resolution == "fine"
    assert scans.fax.send_window is not None and scans.fax.send_window.tz == "America/New_York"
    assert scans.sent == Path("/srv/fax/scans/sent")
    assert cfg.folders[0].fax.contact == "Accounts Payable"
    assert cfg.folders[0].to == ["+1 212 555 0100"]
    # The folders do not exist here: that is a warning for check-config, never a load error.
    assert any("/srv/fax/accounting does not exist" in w for w in check_paths(cfg))


def test_example_documents_every_key() -> None:
    """Every model field appears as a key in the example file, so the file stays the reference."""
    from faxdropd.config.model import FaxOptions, FolderConfig, InterfaxConfig, Settings, WebConfig

    text = EXAMPLE.read_text()
    names: set[str] = set()
    for model in (Settings, InterfaxConfig, FolderConfig, FaxOptions, WebConfig):
        names.update(model.model_fields)
    for name in sorted(names):
        assert re.search(rf"\b{name}:", text), name


def test_example_with_password_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "interfax-password"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    text = EXAMPLE.read_text().replace("/run/credentials/faxdropd.service/interfax-password", str(secret_file))
    target = tmp_path / "faxdropd.yaml"
    target.write_text(text)
    cfg = load_config(target, env={})
    assert cfg.interfax.password.get_secret_value() == SECRET  # trailing newline stripped
    assert cfg.warnings == []


# --- inheritance


def test_defaults_are_inherited_and_overridden() -> None:
    data = minimal(
        defaults={"stable_seconds": "1m", "region": "gb", "fax": {"csid": "ACME", "page_size": "letter"}},
        folders=[
            {"path": "/srv/fax/a", "to": "+44 161 999 8888"},
            {"path": "/srv/fax/b", "stable_seconds": 0.5, "fax": {"page_size": "LEGAL"}, "to": ["1", "2"]},
        ],
    )
    a, b = parse(data).folders
    assert a.stable_seconds == 60 and b.stable_seconds == 0.5
    assert a.region == b.region == "GB"
    assert a.fax.page_size == "Letter" and b.fax.page_size == "Legal"
    assert a.fax.csid == b.fax.csid == "ACME"  # fax: merged option by option
    assert a.to == ["+44 161 999 8888"] and b.to == ["1", "2"]
    assert a.fax.retries == 3 and a.watch == "auto" and a.include[0] == "*.pdf"


def test_folder_defaults_and_relative_paths(tmp_path: Path) -> None:
    data = minimal(state_dir="state", folders=[{"path": "hot/in", "cover_page": None, "to": "+12125550100"}])
    data["folders"][0].pop("cover_page")
    cfg = parse(data, base_dir=tmp_path)
    folder = cfg.folders[0]
    assert folder.path == tmp_path / "hot" / "in"
    assert folder.name == "in"
    assert folder.sent == tmp_path / "hot" / "in" / "sent"
    assert folder.failed == tmp_path / "hot" / "in" / "failed"
    assert cfg.state_dir == tmp_path / "state"


def test_folder_for(tmp_path: Path) -> None:
    data = minimal(folders=[{"path": str(tmp_path / "a")}, {"path": str(tmp_path / "b")}])
    cfg = parse(data)
    assert cfg.folder_for(tmp_path / "a" / "doc.pdf") is cfg.folders[0]
    assert cfg.folder_for(tmp_path / "b" / "x" / ".." / "doc.pdf") is cfg.folders[1]
    assert cfg.folder_for(tmp_path / "a" / "sent" / "doc.pdf") is None
    assert cfg.folder_for(tmp_path / "c" / "doc.pdf") is None


def test_embedded_needs_no_password() -> None:
    cfg = parse(minimal(interfax={"url": "embedded"}), env={})
    assert cfg.interfax.embedded
    password = cfg.interfax.password.get_secret_value()
    assert cfg.interfax.username == "demo" and len(password) >= 16  # random: no short word masked in every line


def test_send_window() -> None:
    window = SendWindow.model_validate("Mon-Fri 08:00-18:00 Europe/Berlin")
    assert window.days == [0, 1, 2, 3, 4] and window.start == time(8) and window.end == time(18)
    assert window.tz == "Europe/Berlin" and window.describe() == "Mon-Fri 08:00-18:00 Europe/Berlin"
    night = SendWindow.model_validate("Mon , Wed 22:00 - 06:00 UTC")
    assert (night.days, night.start, night.end) == ([0, 2], time(22), time(6))
    assert SendWindow.model_validate("Fri-Mon 09:00-17:00 UTC").days == [0, 4, 5, 6]
    assert SendWindow.model_validate("09:00-17:00", context=None).tz  # the host's zone, always a valid name
    whole = SendWindow.model_validate("08:00-24:00 UTC")
    assert whole.days == list(range(7)) and whole.end == time.max


# --- errors


def with_folder(**keys: Any) -> dict[str, Any]:
    return minimal(folders=[{"path": "/srv/fax/a"}, {"path": "/srv/fax/b"}, {"path": "/srv/fax/c", **keys}])


@pytest.mark.parametrize(
    ("data", "path", "sentence"),
    [
        (
            with_folder(fax={"page_size": "A5"}),
            "folders[2].fax.page_size",
            "must be one of A4, Letter, Legal, B4",
        ),
        (with_folder(fax={"csid": "x" * 21}), "folders[2].fax.csid", "at most 20 characters"),
        (with_folder(fax={"subject": "x" * 61}), "folders[2].fax.subject", "at most 60 characters"),
        (with_folder(fax={"pagesize": "A4"}), "folders[2].fax.pagesize", "did you mean page_size?"),
        (with_folder(stabel_seconds=5), "folders[2].stabel_seconds", "did you mean stable_seconds?"),
        (with_folder(stable_seconds="5 minutes"), "folders[2].stable_seconds", "is not a duration"),
        (with_folder(poll_interval=0), "folders[2].poll_interval", "longer than 0 seconds"),
        (with_folder(region="XX"), "folders[2].region", "two-letter region code"),
        (with_folder(region=False), "folders[2].region", "in quotes"),
        (with_folder(to=12125550100), "folders[2].to", "in quotes"),
        (with_folder(to=["+1 212 555 0100", 4930]), "folders[2].to[1]", "in quotes"),
        (with_folder(allow=["1212*"]), "folders[2].allow[0]", "E.164 pattern"),
        (with_folder(watch="inotify"), "folders[2].watch", "must be one of auto, events, poll"),
        (with_folder(fax={"retries": 11}), "folders[2].fax.retries", "at most 10"),
        (with_folder(fax={"send_window": "Mon-Fry 08:00-18:00"}), "folders[2].fax.send_window", "not a day"),
        (
            with_folder(fax={"send_window": "Mon-Fri 08:00-18:00 Mars/Base"}),
            "folders[2].fax.send_window",
            "zone",
        ),
        (with_folder(to_from=["folder"]), "folders[2].to", "is required"),
        (with_folder(to_from=["email"]), "folders[2].to_from[0]", "must be one of sidecar, filename, folder"),
        (minimal(workers=65), "workers", "at most 64"),
        (minimal(workers="4"), "workers", "whole number"),
        (minimal(folder=[]), "folder", "did you mean folders?"),
        (minimal(folders=[]), "folders", "at least one"),
        (minimal(log={"format": "xml"}), "log.format", "must be one of auto, json, console"),
        (minimal(metrics={"listen": "9464"}), "metrics.listen", "host:port"),
        (minimal(retry={"initial": "10m", "cap": "1m"}), "retry.cap", "at least retry.initial"),
        (minimal(limits={"duplicate_window": "forever"}), "limits.duplicate_window", "not a duration"),
        (minimal(defaults={"path": "/x"}), "defaults.path", "belongs in each folder"),
    ],
)
def test_errors_name_their_key(data: dict[str, Any], path: str, sentence: str) -> None:
    error = error_of(data)
    assert error.path == path
    assert str(error).startswith(f"{path}: ")
    assert sentence in str(error)


@pytest.mark.parametrize(
    ("interfax", "path", "sentence"),
    [
        ({"chunk_size": 0}, "interfax.chunk_size", "at least 1"),
        ({"chunk_size": 3_000_001}, "interfax.chunk_size", "at most 3000000"),
        ({"inline_max_bytes": 3_000_001}, "interfax.inline_max_bytes", "at most 3000000"),
        ({"timeout": 0}, "interfax.timeout", "longer than 0 seconds"),
        ({"soap_version": "2.0"}, "interfax.soap_version", '"1.1" or "1.2"'),
        ({"url": "ftp://x"}, "interfax.url", "embedded"),
        ({"password_env": "NOPE"}, "interfax.password_env", "NOPE is not set"),
        ({"password_env": None}, "interfax.password_file", "is required"),
        (
            {"password_file": "/nonexistent/pw", "password_env": None},
            "interfax.password_file",
            "does not exist",
        ),
        ({"password": SECRET}, "interfax.password_env", "only one of"),
        ({"username": ""}, "interfax.username", "is required"),
        ({"passwd_env": "X"}, "interfax.passwd_env", "did you mean password_env?"),
    ],
)
def test_interfax_errors(interfax: dict[str, Any], path: str, sentence: str) -> None:
    data = minimal()
    data["interfax"].update(interfax)
    data["interfax"] = {k: v for k, v in data["interfax"].items() if v is not None}
    error = error_of(data)
    assert error.path == path
    assert sentence in str(error)
    assert SECRET not in str(error) and SECRET not in repr(error)


def test_several_errors_are_listed_one_line_each() -> None:
    data = minimal(workers=0, folders=[{"path": "/srv/fax/a", "fax": {"page_size": "A5", "csid": "y" * 30}}])
    error = error_of(data)
    assert isinstance(error, ConfigProblems)
    lines = str(error).splitlines()
    assert lines == [
        "workers: must be at least 1",
        "folders[0].fax.csid: must be at most 20 characters",
        "folders[0].fax.page_size: must be one of A4, Letter, Legal, B4",
    ]
    assert error.path == "workers"
    assert [p for p, _ in error.problems] == ["workers", "folders[0].fax.csid", "folders[0].fax.page_size"]


def test_a_bad_default_is_reported_once() -> None:
    data = minimal(defaults={"fax": {"page_size": "A5", "csid": "ok"}}, folders=[{"path": "/a"}, {"path": "/b"}])
    error = error_of(data)
    assert str(error) == "defaults.fax.page_size: must be one of A4, Letter, Legal, B4"


@pytest.mark.parametrize(
    ("folders", "path", "sentence"),
    [
        ([{"path": "/srv/a"}, {"path": "/srv/a/"}], "folders[1].path", "same folder as folders[0]"),
        ([{"path": "/x/in"}, {"path": "/y/in"}], "folders[1].name", "already the name of folders[0]"),
        ([{"path": "/var/lib/faxdropd/hot"}], "folders[0].path", "inside state_dir"),
        ([{"path": "/var/lib/faxdropd"}], "folders[0].path", "inside state_dir"),
        ([{"path": "/srv/a", "sent": "/srv/a"}], "folders[0].sent", "the hot folder itself"),
        ([{"path": "/srv/a", "failed": "/srv/b"}, {"path": "/srv/b"}], "folders[0].failed", "faxed again"),
    ],
)
def test_cross_folder_checks(folders: list[dict[str, Any]], path: str, sentence: str) -> None:
    error = error_of(minimal(folders=folders))
    assert error.path == path
    assert sentence in str(error)


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    target.write_text(f'interfax:\n  password: "{SECRET}\n  username: [x\n')
    target.chmod(0o600)
    with pytest.raises(ConfigError, match=r"line \d+, column \d+") as info:
        load_config(target, env={})
    assert SECRET not in str(info.value)


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    target = tmp_path / "c.yaml"
    target.write_text(yaml.safe_dump(minimal()) + "workers: 2\nworkers: 3\n")
    with pytest.raises(ConfigError, match=r"duplicate key 'workers'.*line"):
        load_config(target, env=ENV)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(tmp_path / "empty.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(tmp_path / "list.yaml")


# --- secrets


def inline_config(tmp_path: Path, mode: int) -> Path:
    data = minimal()
    data["interfax"] = {"url": "https://ws.interfax.net/dfs.asmx", "username": "acme", "password": SECRET}
    target = tmp_path / "inline.yaml"
    target.write_text(yaml.safe_dump(data))
    target.chmod(mode)
    return target


def test_world_readable_inline_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(inline_config(tmp_path, 0o644), env={})
    assert info.value.path == "interfax.password"
    assert str(info.value) == ("interfax.password: refusing a world-readable config that holds a password; chmod o-r")
    assert SECRET not in str(info.value)


def test_private_inline_password_is_accepted_with_a_warning(tmp_path: Path) -> None:
    cfg = load_config(inline_config(tmp_path, 0o600), env={})
    assert cfg.interfax.password.get_secret_value() == SECRET
    assert any(w.startswith("interfax.password:") for w in cfg.warnings)


def test_password_never_appears_in_text(tmp_path: Path) -> None:
    cfg = load_config(inline_config(tmp_path, 0o600), env={})
    for text in (
        str(cfg),
        repr(cfg),
        cfg.model_dump_json(),
        render_routing_table(cfg),
        str(cfg.model_dump()),
    ):
        assert SECRET not in text
    # A secret in the wrong place, next to other mistakes: still never echoed.
    data = minimal(workers=SECRET)
    data["interfax"] = {"username": "acme", "password": SECRET, "chunk_size": SECRET, "timeout": SECRET}
    data["folders"][0]["fax"] = {"csid": SECRET * 2, "page_size": SECRET, "send_window": SECRET}
    error = error_of(data)
    assert len(str(error).splitlines()) >= 5
    assert SECRET not in str(error) and SECRET not in repr(error)


def test_password_file_and_credentials(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(SECRET + "\r\n")
    data = minimal()
    data["interfax"] = {"username": "acme", "password_file": "pw"}  # relative to the config directory
    assert parse(data, base_dir=tmp_path, env={}).interfax.password.get_secret_value() == SECRET
    data["interfax"]["password_file"] = "credential:pw"
    cfg = parse(data, env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert cfg.interfax.password.get_secret_value() == SECRET
    error = error_of(data, env={})
    assert error.path == "interfax.password_file" and "CREDENTIALS_DIRECTORY" in str(error)
    (tmp_path / "empty").write_text("\n")
    data["interfax"]["password_file"] = str(tmp_path / "empty")
    assert "is empty" in str(error_of(data))


# --- output


def test_routing_table_and_check_paths(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    data = minimal(
        state_dir=str(tmp_path / "state"),
        folders=[
            {
                "path": str(hot),
                "to": ["+1 212 555 0100", "+1 212 555 0101"],
                "fax": {"send_window": "Mon-Fri 08:00-18:00 UTC"},
            },
            {"path": str(tmp_path / "missing"), "to_from": ["filename"], "allow": ["+1212*"]},
        ],
    )
    cfg = parse(data)
    table = render_routing_table(cfg)
    for expected in (
        str(hot),
        "+1 212 555 0100, +1 212 555 0101",
        "sidecar",
        "number in the file name",
        "Mon-Fri 08:00-18:00 UTC",
        str(hot / "sent"),
        str(hot / "failed"),
        "allow +1212*",
        "stable after 5s",
        "A4 portrait",
    ):
        assert expected in table
    warnings = check_paths(cfg)
    assert any("missing does not exist" in w for w in warnings)
    assert not any(str(hot) + " " in w for w in warnings)


# --- fuzzing

BASE: dict[str, Any] = {
    "interfax": {
        "url": "https://ws.interfax.net/dfs.asmx",
        "username": "acme",
        "password": SECRET,
        "timeout": "1m",
        "chunk_size": 200000,
        "verify_tls": True,
        "soap_version": "1.2",
    },
    "state_dir": "/var/lib/faxdropd",
    "workers": 4,
    "log": {"format": "json", "level": "info"},
    "metrics": {"listen": "127.0.0.1:9464"},
    "delivery": {"track": True, "poll_interval": 20, "query_limit_per_minute": 6},
    "retry": {"initial": "30s", "factor": 2, "cap": "1h", "lifetime": "24h"},
    "limits": {"faxes_per_hour": 120, "pages_per_fax": 100, "duplicate_window": "24h"},
    "defaults": {
        "stable_seconds": 5,
        "include": ["*.pdf"],
        "allow": ["+*"],
        "deny": ["+1900*"],
        "fax": {"csid": "ACME", "page_size": "A4", "retries": 3, "send_window": "Mon-Fri 08:00-18:00 UTC"},
    },
    "folders": [
        {"path": "/srv/fax/a", "to": "+1 212 555 0100", "fax": {"contact": "AP"}},
        {"path": "/srv/fax/b", "to_from": ["filename"], "watch": "poll", "sent": "/srv/done"},
    ],
}

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.just(10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=2),
    st.sampled_from(["5m", "-1", "A4", "+1*", "Mon-Fri 08:00-18:00", "/tmp/x", "embedded", "", "\x00", "~/x", "NO"]),
)


def _locations(node: object, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [here] if here else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _locations(child, (*here, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _locations(child, (*here, index))
    return found


def _parent(doc: Any, loc: tuple[Any, ...]) -> Any:
    for part in loc[:-1]:
        doc = doc[part]
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutations_give_a_config_or_a_config_error(data: st.DataObject) -> None:
    doc = copy.deepcopy(BASE)
    for _ in range(data.draw(st.integers(1, 4))):
        locations = _locations(doc)
        if not locations:
            break
        loc = data.draw(st.sampled_from(locations))
        parent = _parent(doc, loc)
        action = data.draw(st.sampled_from(["delete", "replace", "add"]))
        if action == "delete":
            del parent[loc[-1]]
        elif action == "replace":
            parent[loc[-1]] = data.draw(values)
        elif isinstance(parent, dict):
            parent[data.draw(st.text(min_size=1, max_size=12))] = data.draw(values)
    try:
        cfg = parse_config(doc, base_dir=Path("/etc/faxdropd"), env={})
    except ConfigError as error:
        assert error.path, str(error)
        assert SECRET not in str(error)
    else:
        assert cfg.folders and SECRET not in repr(cfg)


def test_many_folders_stay_fast() -> None:
    data = minimal(folders=[{"path": f"/srv/fax/f{i}", "to": "+12125550100"} for i in range(500)])
    cfg = parse(data)
    assert len(cfg.folders) == 500
    assert cfg.folder_for(Path("/srv/fax/f499/doc.pdf")) is cfg.folders[499]


def test_environment_default_is_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(os.environ, "FAXDROPD_PW", SECRET)
    cfg = parse_config(minimal(), base_dir=Path("/etc/faxdropd"))
    assert cfg.interfax.password.get_secret_value() == SECRET


@pytest.mark.parametrize(
    ("data", "path", "sentence"),
    [
        (minimal(journal="mysql://db/fax"), "journal", "PostgreSQL URI"),
        (minimal(journal="postgresql://"), "journal", "PostgreSQL URI"),
        (minimal(journal_lease="1s"), "journal_lease", "at least 3s"),
        (minimal(journal_lease="soon"), "journal_lease", "not a duration"),
        (minimal(journal_password_file="/etc/x"), "journal_password_file", "needs journal:"),
        (
            minimal(journal="postgresql://faxdropd@db/fax", journal_password_file="/nonexistent/pw"),
            "journal_password_file",
            "does not exist",
        ),
    ],
)
def test_journal_errors_name_their_key(data: dict[str, Any], path: str, sentence: str) -> None:
    error = error_of(data)
    assert error.path == path
    assert sentence in str(error)


def test_the_journal_keys_and_their_defaults(tmp_path: Path) -> None:
    assert (parse(minimal()).journal, parse(minimal()).journal_lease) == (None, 30.0)
    secret = tmp_path / "db.pw"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    url = "postgresql://faxdropd@db.example/faxdropd?sslmode=verify-full&sslrootcert=/etc/ca.pem"
    cfg = parse(minimal(journal=url, journal_password_file=str(secret), journal_lease="45s"))
    assert (cfg.journal, cfg.journal_lease, cfg.journal_password) == (url, 45.0, SECRET)
    assert SECRET not in repr(cfg) and SECRET not in cfg.model_dump_json()
    warned = parse(minimal(journal="postgresql://faxdropd:inline-pw@db/fax"))
    assert any("password is written in the URI" in w for w in warned.warnings)
