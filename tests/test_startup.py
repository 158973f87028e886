"""Console start-up stays light (issue #19): a module list, not a time threshold.

`--version`, `--help` and argument parsing load no config, pydantic, structlog or rich; the handlers of `show`,
`queue` and `status` load none of the daemon's, the web page's or InterFAX's libraries, and `show` and `queue`
of a real journal no logging library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# What a console command must not pay for before it knows what it runs.
NOT_BEFORE_DISPATCH = ["pydantic", "yaml", "structlog", "rich", "faxdropd.config", "faxdropd.log"]
# What the read-only console commands never need: the daemon's, the web page's and InterFAX's libraries.
NEVER_FOR_READS = [
    "zeep",
    "lxml",
    "requests",
    "watchdog",
    "prometheus_client",
    "jinja2",
    "waitress",
    "pypdf",
    "faxdropd.emulator",
    "faxdropd.interfax.client",
    "faxdropd.daemon",
    "faxdropd.web",
]


def _loaded(code: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["show", "1"], ["queue", "--json"], ["status"], ["-c", "x.yaml", "show", "7"]])
def test_parsing_a_console_command_loads_nothing_heavy(argv: list[str]) -> None:
    loaded = _loaded(f"from faxdropd.cli import main\nmain.parse({argv!r})")
    assert "faxdropd.cli.main" in loaded
    assert sorted(loaded & set(NOT_BEFORE_DISPATCH + NEVER_FOR_READS)) == []


def test_version_loads_nothing_heavy() -> None:
    code = "from faxdropd.cli import main\ntry:\n    main.main(['--version'])\nexcept SystemExit:\n    pass"
    loaded = _loaded(code)
    assert sorted(loaded & set(NOT_BEFORE_DISPATCH + NEVER_FOR_READS)) == []


@pytest.mark.parametrize("command", ["show", "queue", "status"])
def test_read_commands_load_no_daemon_web_or_soap_libraries(command: str) -> None:
    loaded = _loaded(f"from faxdropd.cli import main\nmain._handler({command!r})")
    assert sorted(loaded & set(NEVER_FOR_READS)) == []


def test_loading_the_config_package_loads_no_logging_libraries() -> None:
    # The config checks MIN_SECRET_LENGTH; taking it from the log room would load structlog and rich with it.
    loaded = _loaded("import faxdropd.config")
    assert sorted(loaded & {"structlog", "rich", "faxdropd.log"}) == []


def test_show_loads_neither_the_folder_listing_nor_the_leases() -> None:
    # `show` shares cli/console.py with `queue`; only `queue` lists hot folders and a shared journal's hosts.
    loaded = _loaded("from faxdropd.cli import main\nmain._handler('show')")
    assert sorted(loaded & {"faxdropd.ops.queue", "faxdropd.jobs.leases", "faxdropd.watch.stability"}) == []


def _loaded_by_command(tmp_path: Path, *argv: str, expect: str | None = None) -> set[str]:
    """The modules `faxdropd -c CFG ARGV...` loads on a real journal holding one claimed job (JOB in `argv` is its
    id); its output must contain `expect` (default: the job's id)."""
    from test_config_place import claimed_job

    state = tmp_path / "state"
    hot = tmp_path / "in"
    hot.mkdir()
    cfg = tmp_path / "faxdropd.yaml"
    cfg.write_text(
        "interfax: {username: demo, password: demo-password}\n"
        f"state_dir: {state}\nfolders: [{{path: {hot}, to: '+12125550100'}}]\n"
    )
    cfg.chmod(0o600)
    job_id = claimed_job(state, hot)
    args = ["-c", str(cfg), *(job_id if a == "JOB" else a for a in argv)]
    code = (
        "import contextlib, io\nfrom faxdropd.cli import main\nout = io.StringIO()\n"
        f"with contextlib.redirect_stdout(out):\n    code = main.main({args!r})\n"
        f"assert code in (0, None) and {expect or job_id!r} in out.getvalue(), (code, out.getvalue())"
    )
    return _loaded(code)


def test_show_of_a_real_job_loads_no_logging_libraries(tmp_path: Path) -> None:
    # The journal logs only when a write fails; reading one job must not pay for structlog and rich.
    loaded = _loaded_by_command(tmp_path, "show", "JOB", expect="scan.pdf")
    assert "faxdropd.ops.show" in loaded
    assert sorted(loaded & {"structlog", "rich", "faxdropd.log"}) == []
    # Only the journal's place is read from the config (config/place.py): no models, no pydantic.
    assert sorted(loaded & {"pydantic", "faxdropd.config.model", "phonenumbers"}) == []


def test_queue_of_a_real_journal_loads_no_logging_libraries(tmp_path: Path) -> None:
    # `queue` reads a shared journal's leases too (jobs/leases.py), which log only inside the daemon: structlog
    # and rich cost a tenth of a second of the command's half-second budget with 100,000 jobs (bench/surfaces.py).
    loaded = _loaded_by_command(tmp_path, "queue", "--json")
    assert {"faxdropd.ops.queue", "faxdropd.jobs.leases"} <= loaded
    assert sorted(loaded & {"structlog", "rich", "faxdropd.log"}) == []


def test_a_light_config_module_builds_no_models() -> None:
    # Importing faxdropd.config.durations runs faxdropd/config/__init__.py first: its names load on first use.
    loaded = _loaded("import faxdropd.config.durations, faxdropd.config.place")
    assert sorted(loaded & {"pydantic", "faxdropd.config.model", "faxdropd.config.load"}) == []
