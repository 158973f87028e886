"""`show` finds the journal from the config without building the models (config/place.py, issue #19).

The keys it reads are checked by the same functions as the full model, so they mean the same and a mistake in
them stops `show` with exit 78 and the key; the rest of the file is left to the daemon and `check-config`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_cli import cli

from faxdropd.config import load_config
from faxdropd.config.place import journal_place
from faxdropd.errors import ConfigError
from faxdropd.jobs.journal import Job, Journal, State, new_job_id

FOLDERS = "folders: [{path: in, to: '+12125550100'}]\n"


def write(tmp_path: Path, body: str, mode: int = 0o600) -> Path:
    (tmp_path / "in").mkdir(exist_ok=True)
    path = tmp_path / "faxdropd.yaml"
    path.write_text("interfax: {username: demo, password: demo-password}\n" + body)
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    "body",
    [
        "",  # the default state_dir
        "state_dir: state\n",  # relative to the file's directory
        "state_dir: /srv/fax/../fax/state/\n",
        "journal: postgresql://faxdropd@db.example/faxdropd?sslmode=verify-full\njournal_lease: 45s\n",
        "journal: postgres://db.example/fax\njournal_password_file: pgpass\n",
    ],
)
def test_the_place_is_the_one_the_full_config_names(tmp_path: Path, body: str) -> None:
    (tmp_path / "pgpass").write_text("s3cret-pg-password\n")
    path = write(tmp_path, body + FOLDERS)
    full = load_config(path, need_password=False)
    place = journal_place(path)
    assert (place.state_dir, place.journal, place.journal_password) == (
        full.state_dir,
        full.journal,
        full.journal_password,
    )


@pytest.mark.parametrize(
    ("body", "key", "sentence"),
    [
        ("state_dir: ~/fax\n", "state_dir", "must not start with ~"),
        ("state_dir: 12\n", "state_dir", "must be a path"),
        ("journal: mysql://db/fax\n", "journal", "must be a PostgreSQL URI"),
        ("journal: postgresql://db/fax\njournal_lease: 1s\n", "journal_lease", "must be at least"),
        ("journal: postgresql://db/fax\njournal_lease: soon\n", "journal_lease", ""),
        ("journal_password_file: pgpass\n", "journal_password_file", "needs journal:"),
    ],
)
def test_a_bad_journal_key_is_refused_as_the_full_config_refuses_it(
    tmp_path: Path, body: str, key: str, sentence: str
) -> None:
    (tmp_path / "pgpass").write_text("s3cret-pg-password\n")
    path = write(tmp_path, body + FOLDERS)
    with pytest.raises(ConfigError) as full:
        load_config(path, need_password=False)
    with pytest.raises(ConfigError) as light:
        journal_place(path)
    assert full.value.path == light.value.path == key
    assert sentence in str(light.value)


def test_a_world_readable_config_with_a_password_is_refused_here_too(tmp_path: Path) -> None:
    path = write(tmp_path, FOLDERS, mode=0o644)
    with pytest.raises(ConfigError, match="world-readable") as refused:
        journal_place(path)
    assert refused.value.path == "interfax.password"


def claimed_job(state: Path, hot: Path) -> str:
    """A job claimed from `hot` in a new SQLite journal in `state` (also test_startup.py's)."""
    journal = Journal(state)
    job_id = new_job_id()
    journal.create(
        Job(
            id=job_id, reference=f"fd-{job_id}", folder="in", hot=str(hot), name="scan.pdf",
            work_path=str(hot / "scan.pdf"), sidecar_path=None, state=State.CLAIMED, numbers=["+12125550100"],
        )
    )  # fmt: skip
    journal.close()
    return job_id


def test_show_reads_a_job_under_a_config_broken_elsewhere_and_check_config_still_refuses_it(
    tmp_path: Path,
) -> None:
    job_id = claimed_job(tmp_path / "state", tmp_path / "in")
    # A typo in a folder (the daemon would refuse to start) does not hide what happened to a job.
    path = write(tmp_path, "state_dir: state\nfolders: [{path: in, to: '+12125550100', stabel_seconds: 3}]\n")
    shown = cli(path, "show", job_id)
    assert shown.returncode == 0 and "scan.pdf" in shown.stdout, shown.stderr
    checked = cli(path, "check-config")
    assert checked.returncode == 78 and "stabel_seconds" in checked.stderr


def test_show_stops_with_exit_78_and_the_key_when_the_journal_keys_are_wrong(tmp_path: Path) -> None:
    path = write(tmp_path, "state_dir: ~/state\n" + FOLDERS)
    shown = cli(path, "show", "anything")
    assert shown.returncode == 78
    assert "state_dir" in shown.stderr and "must not start with ~" in shown.stderr
    assert os.fspath(tmp_path) in shown.stderr  # which file
