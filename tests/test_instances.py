"""Per-instance work areas: the instance id, the 0.1 migration, adoption's moves and the returning host."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kit.journals import JournalBackend

from faxdropd.config import Config, parse_config
from faxdropd.errors import ConfigError, ConfigProblems
from faxdropd.files import filing, workarea
from faxdropd.jobs import adoption, instances
from faxdropd.jobs.journal import Job, Journal, State


def config(tmp_path: Path, **extra: Any) -> Config:
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / "state"),
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100"}],
        **extra,
    }
    return parse_config(data, base_dir=tmp_path, env={"PW": "not-a-real-password"})


@pytest.fixture
def journal(tmp_path: Path, journal_backend: JournalBackend) -> Iterator[Journal]:
    (tmp_path / "hot").mkdir()
    j = journal_backend.open(tmp_path / "state")
    yield j
    j.close()
    workarea.set_instance(None)


def _job(hot: Path, work: Path, state: State = State.SUBMITTED, job_id: str = "a1b2c3d4e5f60718") -> Job:
    return Job(id=job_id, reference=f"fd-{job_id}", folder="hot", hot=str(hot), name="x.pdf",
               work_path=str(work), sidecar_path=None, state=state)  # fmt: skip


def test_default_instance_is_a_safe_name_stable_per_state_dir(tmp_path: Path) -> None:
    one = instances.default_instance(tmp_path / "a")
    assert one == instances.default_instance(tmp_path / "a")
    assert one != instances.default_instance(tmp_path / "b")
    from faxdropd.config import INSTANCE_RE

    assert INSTANCE_RE.fullmatch(one)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", ".hidden", "-opt", "x" * 65, "sp ace"])
def test_an_unsafe_instance_name_is_a_config_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises((ConfigError, ConfigProblems)):
        config(tmp_path, instance=bad)


def test_the_instance_is_kept_in_the_journal_and_a_different_one_refused(tmp_path: Path, journal: Journal) -> None:
    assert instances.resolve(journal, config(tmp_path, instance="fax-1")) == "fax-1"
    assert instances.resolve(journal, config(tmp_path)) == "fax-1"  # the default no longer applies
    with pytest.raises(ConfigError, match="belongs to instance fax-1"):
        instances.resolve(journal, config(tmp_path, instance="fax-2"))


def test_claims_go_into_the_instance_area(tmp_path: Path, journal: Journal) -> None:
    hot = tmp_path / "hot"
    workarea.set_instance("me")
    (hot / "doc.pdf").write_bytes(b"%PDF")
    work = filing.claim(hot / "doc.pdf", hot, "0011223344556677")
    assert work == hot / ".faxdropd" / "me" / "0011223344556677__doc.pdf"


def test_orphans_are_only_looked_for_in_the_own_area(tmp_path: Path, journal: Journal) -> None:
    hot = tmp_path / "hot"
    for area in ("me", "peer"):
        (hot / ".faxdropd" / area).mkdir(parents=True)
        (hot / ".faxdropd" / area / f"{area}00000000000000__d.pdf").write_bytes(b"x")
    workarea.set_instance("me")
    assert [p.parent.name for p in workarea.cleanup_work(hot, set())] == ["me"]


@pytest.mark.parametrize("crash_after_rename", [False, True])
def test_a_01_area_is_migrated_and_strangers_are_left(
    tmp_path: Path, journal: Journal, crash_after_rename: bool
) -> None:
    hot = tmp_path / "hot"
    root = hot / ".faxdropd"
    root.mkdir()
    old = root / "a1b2c3d4e5f60718__x.pdf"
    old.write_bytes(b"mine")
    stranger = root / "ffffffffffffffff__y.pdf"
    stranger.write_bytes(b"another 0.1 host's")
    journal.create(_job(hot, old))
    workarea.set_instance("me")
    new = root / "me" / old.name
    if crash_after_rename:  # the rename was durable, the journal update was not
        new.parent.mkdir()
        old.rename(new)
    instances.migrate_legacy(journal, [hot])
    job = journal.get("a1b2c3d4e5f60718")
    assert job is not None and job.work_path == str(new) and new.read_bytes() == b"mine"
    assert stranger.read_bytes() == b"another 0.1 host's"


def test_adopt_moves_the_whole_area_in_one_rename(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    dead = hot / ".faxdropd" / "dead"
    dead.mkdir(parents=True)
    (dead / "0123456789abcdef__d.pdf").write_bytes(b"x")
    (dead / workarea.ALIVE).touch()
    old = time.time() - 3600
    os.utime(dead / workarea.ALIVE, (old, old))
    os.utime(dead, (old, old))
    assert adoption.last_seen(dead) == pytest.approx(old)
    dest = adoption.move_area(hot, "dead", "me")
    assert not dead.exists() and (dest / "0123456789abcdef__d.pdf").exists()
    assert workarea.adopted_from(str(dest / "0123456789abcdef__d.pdf")) == "dead"


def test_adopted_documents_become_unknown_jobs_under_the_peers_reference(tmp_path: Path, journal: Journal) -> None:
    cfg = config(tmp_path)
    hot = cfg.folders[0].path
    area = hot / ".faxdropd" / "me" / "adopted-dead-peer-20261204T200000Z"
    area.mkdir(parents=True)
    (area / "0123456789abcdef__d.pdf").write_bytes(b"doc")
    (area / "0123456789abcdef__d.pdf.fax.yaml").write_text("to: '+12125550101'\n")
    workarea.set_instance("me")
    [job] = adoption.take_adopted(journal, cfg.folders)
    assert (job.id, job.reference, job.state, job.name) == (
        "0123456789abcdef",
        "fd-0123456789abcdef",
        State.UNKNOWN,
        "d.pdf",
    )
    assert job.sidecar_path and job.sidecar_path.endswith(".fax.yaml")
    assert workarea.adopted_from(job.work_path) == "dead-peer"
    assert adoption.take_adopted(journal, cfg.folders) == []  # known now: never journaled twice


def test_a_returning_host_ends_its_adopted_jobs_without_sending(tmp_path: Path, journal: Journal) -> None:
    hot = tmp_path / "hot"
    (hot / ".faxdropd").mkdir()
    journal.create(_job(hot, hot / ".faxdropd" / "me" / "a1b2c3d4e5f60718__x.pdf", State.CLAIMED))
    adoption.settle_taken(journal)
    job = journal.get("a1b2c3d4e5f60718")
    assert job is not None and job.state is State.ADOPTED and "adopted by another host" in (job.reason or "")


def _adopt_config(tmp_path: Path, backend: JournalBackend) -> Path:
    import yaml

    path = tmp_path / "faxdropd.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
                "state_dir": str(tmp_path / "state"),
                "instance": "me",
                "peer_timeout": "10m",
                "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100"}],
                **backend.config_extra(),
            }
        )
    )
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("age", [30.0, 3600.0])
def test_adopt_refuses_a_recent_peer_and_takes_a_silent_one(
    tmp_path: Path, journal: Journal, age: float, monkeypatch: pytest.MonkeyPatch, journal_backend: JournalBackend
) -> None:
    from faxdropd.cli.main import main

    monkeypatch.setenv("PW", "not-a-real-password")
    cfg_path = _adopt_config(tmp_path, journal_backend)
    instances.resolve(journal, config(tmp_path, instance="me"))
    dead = tmp_path / "hot" / ".faxdropd" / "dead"
    dead.mkdir(parents=True)
    (dead / "0123456789abcdef__d.pdf").write_bytes(b"x")
    (dead / workarea.ALIVE).touch()
    then = time.time() - age
    for p in (dead / workarea.ALIVE, dead):
        os.utime(p, (then, then))
    code = main(["-c", str(cfg_path), "adopt", "dead"])
    if age < 600:
        assert code == 1 and dead.is_dir()
        assert main(["-c", str(cfg_path), "adopt", "dead", "--force"]) == 0
    else:
        assert code == 0
    assert not dead.exists()
    [area] = (tmp_path / "hot" / ".faxdropd" / "me").iterdir()
    assert area.name.startswith("adopted-dead-") and (area / "0123456789abcdef__d.pdf").exists()
