"""T12: config fuzzing. Hypothesis breaks a valid config in 1 to 3 places (missing keys, mistyped or huge values,
the hot folder on the state dir or on its own sent/, a world-readable file holding the password); every
result must be refused with the key path named, exit 78 from `check-config`, no traceback, and never the
password in any output. Many run in-process (load_config), a sample as real `check-config` subprocesses.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxdropd.config import ConfigProblems, load_config
from faxdropd.errors import ConfigError

pytestmark = pytest.mark.reliability

PASSWORD = "fuzz-Pa55-w0rd-7f3c1e"
ROOT = Path("/tmp/faxdropd-fuzz")  # never created: the config only names these folders

BASE: dict[str, Any] = {
    "interfax": {
        "url": "https://ws.interfax.net/dfs.asmx",
        "username": "demo",
        "password": PASSWORD,
        "timeout": 30,
        "chunk_size": 200_000,
    },
    "state_dir": str(ROOT / "state"),
    "workers": 4,
    "log": {"format": "json", "level": "info"},
    "retry": {"initial": 30, "factor": 2, "cap": 3600},
    "limits": {"pages_per_fax": 100},
    "delivery": {"query_limit_per_minute": 6},
    "folders": [
        {
            "path": str(ROOT / "hot"),
            "to": "+12125550100",
            "fax": {"page_size": "A4", "csid": "ACME", "retries": 3},
            "stable_seconds": 5,
        }
    ],
}

# (key path as the error must name it, value; None as value = delete the key). Every entry is invalid alone.
MISSING = ["interfax", "interfax.username", "folders", "folders[0].path"]
BAD_VALUES: dict[str, list[Any]] = {
    "interfax.url": [[], {"a": 1}, 12],
    "interfax.username": [[], {"x": 1}],
    "interfax.password": [[PASSWORD], {"nested": PASSWORD}, 12],
    "interfax.timeout": ["abc", -1, [], "5 parsecs", "1e999"],
    "interfax.chunk_size": [0, 3_000_001, 10**12, "big", 1.5, True],
    "workers": [0, 65, 10**9, "four", True, -3],
    "log.level": ["verbose", 3],
    "log.format": ["xml", []],
    "retry.factor": [0.5, 101, "x", float("inf")],
    "limits.pages_per_fax": [0, 10_001, 10**15, "many"],
    "delivery.query_limit_per_minute": [0, 601],
    "folders[0].fax.page_size": ["A5", 4],
    "folders[0].fax.csid": ["x" * 21],
    "folders[0].fax.retries": [11, -1, "3"],
    "folders[0].stable_seconds": ["soon", -5, "5 fortnights"],
    "interfax.passwrd": [PASSWORD],  # a typo for password: an unknown key
}
SECTIONS = sorted({p.split(".")[0].split("[")[0] for p in [*MISSING, *BAD_VALUES]} | {"paths"})


def _set(data: dict[str, Any], path: str, value: Any, delete: bool = False) -> None:
    keys: list[str | int] = []
    for part in path.split("."):
        if "[" in part:
            name, index = part[:-1].split("[")
            keys += [name, int(index)]
        else:
            keys.append(part)
    node: Any = data
    for key in keys[:-1]:
        node = node[key]
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


@st.composite
def broken_configs(draw: st.DrawFn) -> tuple[dict[str, Any], list[str], bool]:
    """A config, the key paths whose problems it must report, and whether the file is world-readable."""
    data = copy.deepcopy(BASE)
    if draw(st.integers(0, 9)) == 0:  # checked before anything else, so it stands alone
        return data, ["interfax.password"], True
    sections = draw(st.lists(st.sampled_from(SECTIONS), min_size=1, max_size=3, unique=True))
    sections.sort(key=lambda s: s != "paths")  # paths first: later mutations may delete folders
    expected: list[str] = []
    for section in sections:
        if section == "paths":
            which = draw(st.sampled_from(["state", "sent", "failed"]))
            if which == "state":
                data["state_dir"] = data["folders"][0]["path"]
                expected.append("folders[0].path")
            else:
                data["folders"][0][which] = data["folders"][0]["path"]
                expected.append(f"folders[0].{which}")
            continue
        choices = [p for p in MISSING if p.split(".")[0].split("[")[0] == section]
        choices += [p for p in BAD_VALUES if p.split(".")[0].split("[")[0] == section]
        path = draw(st.sampled_from(sorted(choices)))
        if path in MISSING and draw(st.booleans()):
            _set(data, path, None, delete=True)
        elif path in BAD_VALUES:
            _set(data, path, draw(st.sampled_from(BAD_VALUES[path])))
        else:
            _set(data, path, None, delete=True)
        expected.append(path)
    # Cross-folder and state_dir checks run only on an otherwise valid config (their indexes must be right).
    if len(sections) > 1 and "paths" in sections:
        expected = expected[: sections.index("paths")] + expected[sections.index("paths") + 1 :]
    # A missing parent hides problems below it; keep only what can still be reported.
    expected = [p for p in expected if not any(p != q and p.startswith(q) for q in expected)]
    if "interfax" in expected or "folders" in expected:
        expected = [p for p in expected if not p.startswith(("interfax.", "folders["))] or expected
    return data, expected, False


def write(tmp: Path, data: dict[str, Any], world_readable: bool) -> Path:
    path = tmp / "faxdropd.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    path.chmod(0o644 if world_readable else 0o600)
    return path


def reported(exc: ConfigError) -> list[str]:
    if isinstance(exc, ConfigProblems):
        return [p for p, _ in exc.problems]
    return [exc.path or ""]


def covers(paths: list[str], key: str) -> bool:
    # "interfax.passwrd" is reported on the key itself; a missing parent may be reported as the parent.
    return any(
        p == key or p.startswith(key + ".") or p.startswith(key + "[") or key.startswith(p + ".") for p in paths if p
    )


def _fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cfg", numbered=True)


EXAMPLES = {"in_process": 0, "subprocess": 0}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_configs())
def test_load_config_refuses_every_broken_config(
    case: tuple[dict[str, Any], list[str], bool], tmp_path_factory: pytest.TempPathFactory
) -> None:
    data, expected, world_readable = case
    path = write(_fresh(tmp_path_factory), data, world_readable)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    paths, text = reported(info.value), str(info.value)
    for key in expected:
        assert covers(paths, key), (key, paths, text)
    assert PASSWORD not in text and PASSWORD not in repr(info.value)
    assert "Traceback" not in text
    EXAMPLES["in_process"] += 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=broken_configs())
def test_check_config_subprocess_exits_78_with_the_key_path(
    case: tuple[dict[str, Any], list[str], bool], tmp_path_factory: pytest.TempPathFactory
) -> None:
    data, expected, world_readable = case
    path = write(_fresh(tmp_path_factory), data, world_readable)
    result = subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(path), "check-config"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 78, output
    assert "Traceback" not in output
    assert PASSWORD not in output
    for key in expected:
        assert key in output or any(key.startswith(p) and p in output for p in ("interfax", "folders")), (key, output)
    EXAMPLES["subprocess"] += 1


def test_the_base_config_itself_is_valid(tmp_path: Path) -> None:
    """Guards the fuzzers: if BASE were invalid, every "refusal" above would prove nothing."""
    cfg = load_config(write(tmp_path, BASE, False), env={})
    assert cfg.interfax.password.get_secret_value() == PASSWORD
    result = subprocess.run(
        [sys.executable, "-m", "faxdropd", "-c", str(write(tmp_path, BASE, False)), "check-config"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    print(f"config fuzz: {EXAMPLES['in_process']} in-process, {EXAMPLES['subprocess']} subprocess refusals")
