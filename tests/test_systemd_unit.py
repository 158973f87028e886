"""systemd/: the unit verifies without warnings, rates OK in the offline security audit, and the sysusers and
tmpfiles snippets apply. Needs Debian's `systemd` package (CI installs it); PID 1 need not be systemd."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEMD_DIR = Path(__file__).resolve().parent.parent / "systemd"
UNIT = SYSTEMD_DIR / "faxdropd.service"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed (apt-get install -y systemd)")
# systemd-analyze security ranks by exposure (0-10); only these words are acceptable.
ACCEPTABLE_RATINGS = ("PERFECT", "SAFE", "OK")


def _unit() -> configparser.ConfigParser:
    # strict=False: SystemCallFilter= legitimately appears twice.
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


def _systemd_version() -> int:
    out = subprocess.run([ANALYZE or "systemd-analyze", "--version"], capture_output=True, text=True).stdout
    match = re.search(r"systemd (\d+)", out)
    return int(match.group(1)) if match else 0


def _testable_copy(tmp_path: Path) -> Path:
    """The unit with ExecStart= pointing at an existing executable.

    `verify` fails ("Command … is not executable") when /opt/faxdropd/bin/faxdropd is not installed, which is
    the case on CI and dev machines; the rest of the line (arguments) is kept so quoting errors still show.
    """
    text = UNIT.read_text()
    patched, count = re.subn(
        r"^ExecStart=/opt/faxdropd/bin/faxdropd ", f"ExecStart={sys.executable} ", text, flags=re.MULTILINE
    )
    assert count == 1, "ExecStart= line changed; update this test"
    copy = tmp_path / "faxdropd.service"
    copy.write_text(patched)
    return copy


def test_unit_contents() -> None:
    svc = _unit()["Service"]
    assert svc["Type"] == "notify"
    assert svc["ExecStart"] == "/opt/faxdropd/bin/faxdropd --config /etc/faxdropd/faxdropd.yaml run"
    assert svc["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert svc["RestartPreventExitStatus"] == "78"
    assert svc["Restart"] == "on-failure"
    assert svc["WatchdogSec"] == "30s"
    assert svc["NotifyAccess"] == "main"
    assert int(svc["TimeoutStopSec"].rstrip("s")) > 60  # above the per-call SOAP timeout (upload bound)
    assert svc["LoadCredential"] == "interfax-password:/etc/faxdropd/interfax-password"
    assert svc["StateDirectory"] == "faxdropd" and svc["StateDirectoryMode"] == "0700"
    assert svc["User"] == svc["Group"] == "faxdropd"
    assert svc["ReadWritePaths"].startswith("-")
    assert svc["ProtectSystem"] == "strict"
    assert svc["CapabilityBoundingSet"] == ""
    assert svc["RestrictAddressFamilies"] == "AF_UNIX AF_INET AF_INET6"


@needs_analyze
def test_verify_is_silent(tmp_path: Path) -> None:
    unit = _testable_copy(tmp_path)
    # Exit codes miss typos (unknown keys only warn, rc 0), so any output at all is a failure.
    proc = subprocess.run([ANALYZE or "", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and output == "", output


@needs_analyze
def test_verify_catches_a_typo(tmp_path: Path) -> None:
    """Guards the test above: a misspelt key must produce output, or 'silent' proves nothing."""
    unit = _testable_copy(tmp_path)
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilegs="))
    proc = subprocess.run([ANALYZE or "", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    assert "NoNewPrivilegs" in proc.stdout + proc.stderr


@needs_analyze
def test_security_rating_ok(tmp_path: Path) -> None:
    unit = _testable_copy(tmp_path)
    # --threshold is on a 0-100 scale (the printed 1.2 is 12): fail above 4.0.
    proc = subprocess.run(
        [ANALYZE or "", "security", "--offline=true", "--threshold=40", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    score, rating = float(match.group(1)), match.group(2)
    print(f"systemd-analyze security --offline=true: {score} {rating}")  # shown with pytest -s / -rP
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert rating in ACCEPTABLE_RATINGS and score <= 4.0


@needs_analyze
def test_notify_reload_dropin(tmp_path: Path) -> None:
    dropin = (SYSTEMD_DIR / "faxdropd-notify-reload.conf").read_text()
    assert re.search(r"^Type=notify-reload$", dropin, re.MULTILINE)
    assert re.search(r"^ExecReload=$", dropin, re.MULTILINE)  # clears the kill(1) line
    if _systemd_version() < 253:
        pytest.skip("systemd < 253 does not know Type=notify-reload; the drop-in is for newer hosts")
    unit = _testable_copy(tmp_path)
    (tmp_path / "faxdropd.service.d").mkdir()
    (tmp_path / "faxdropd.service.d" / "notify-reload.conf").write_text(dropin)
    proc = subprocess.run([ANALYZE or "", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and output == "", output


def test_sysusers_line() -> None:
    lines = [
        ln
        for ln in (SYSTEMD_DIR / "faxdropd.sysusers").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines == ['u faxdropd - "faxdropd fax daemon" /var/lib/faxdropd']


@pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None,
    reason="systemd-sysusers/systemd-tmpfiles not installed (apt-get install -y systemd)",
)
def test_sysusers_and_tmpfiles_apply_to_a_scratch_root(tmp_path: Path) -> None:
    """Apply both snippets to an empty --root: proves the syntax and that the group they share exists."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for name in ("passwd", "group", "shadow", "gshadow"):
        (root / "etc" / name).write_text("")
    sysusers = subprocess.run(
        ["systemd-sysusers", f"--root={root}", str(SYSTEMD_DIR / "faxdropd.sysusers")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if sysusers.returncode != 0 and "Permission denied" in sysusers.stderr:
        pytest.skip("systemd-sysusers needs root to write a scratch root here")
    assert sysusers.returncode == 0, sysusers.stderr
    passwd = (root / "etc" / "passwd").read_text()
    assert re.search(r"^faxdropd:x:\d+:\d+:faxdropd fax daemon:/var/lib/faxdropd:", passwd, re.MULTILINE)

    tmpfiles = subprocess.run(
        ["systemd-tmpfiles", f"--root={root}", "--create", str(SYSTEMD_DIR / "faxdropd.tmpfiles")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if tmpfiles.returncode != 0 and "Operation not permitted" in tmpfiles.stderr:
        pytest.skip("systemd-tmpfiles needs root to chown in a scratch root")
    assert tmpfiles.returncode == 0, tmpfiles.stderr
    etc = root / "etc" / "faxdropd"
    assert etc.is_dir() and (etc.stat().st_mode & 0o7777) == 0o750
    group = re.search(r"^faxdropd:x:(\d+):", (root / "etc" / "group").read_text(), re.MULTILINE)
    assert group is not None
    gid = int(group.group(1))
    assert etc.stat().st_uid == 0 and etc.stat().st_gid == gid
