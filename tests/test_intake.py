"""Batched claims (intake.claim_batch) on real folders and a real journal.

Running as root, a real permission error cannot be produced (root renames anything), so the one failure that is
injected is the OSError of a rename; everything else is real.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
import structlog
from kit.journals import JournalBackend

from faxdropd.config import Config, FolderConfig, parse_config
from faxdropd.files import filing
from faxdropd.jobs import intake
from faxdropd.jobs.journal import Journal, State


def config(tmp_path: Path, **folder: Any) -> Config:
    data = {
        "interfax": {"url": "http://127.0.0.1:9/dfs.asmx", "username": "u", "password_env": "PW"},
        "state_dir": str(tmp_path / "state"),
        "folders": [{"path": str(tmp_path / "hot"), "to": "+12125550100", **folder}],
    }
    return parse_config(data, base_dir=tmp_path, env={"PW": "not-a-real-password"})


@pytest.fixture
def setup(tmp_path: Path, journal_backend: JournalBackend) -> tuple[FolderConfig, Journal]:
    cfg = config(tmp_path, to_from=["sidecar", "folder"])
    folder = cfg.folders[0]
    folder.path.mkdir(parents=True)
    journal = journal_backend.open(tmp_path / "state")
    yield folder, journal  # type: ignore[misc]
    journal.close()


def drop(folder: FolderConfig, name: str, data: bytes = b"%PDF-1.4 test\n%%EOF\n") -> Path:
    path = folder.path / name
    path.write_bytes(data)
    return path


def test_a_batch_is_claimed_and_journaled_together(setup: tuple[FolderConfig, Journal]) -> None:
    folder, journal = setup
    paths = [drop(folder, f"doc-{i}.pdf", f"doc {i}".encode()) for i in range(5)]
    jobs = intake.claim_batch(journal, [(folder, p) for p in paths])
    assert [j.name for j in jobs] == [p.name for p in paths]
    for job, path in zip(jobs, paths, strict=True):
        assert not path.exists()
        assert Path(job.work_path).read_bytes() == path.name.replace(".pdf", "").replace("-", " ").encode()
        stored = journal.get(job.id)
        assert stored is not None and stored.state is State.CLAIMED and stored.work_path == job.work_path
    assert journal.counts() == {"claimed": 5}


def test_a_file_that_cannot_be_renamed_stays_and_the_rest_of_the_batch_goes_on(
    setup: tuple[FolderConfig, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, journal = setup
    paths = [drop(folder, f"doc-{i}.pdf") for i in range(3)]
    real_claim = filing.claim

    def claim(src: Path, hot: Path, job_id: str, *, sync: bool = True) -> Path | None:
        if src.name == "doc-1.pdf":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(src))
        return real_claim(src, hot, job_id, sync=sync)

    monkeypatch.setattr(filing, "claim", claim)
    with structlog.testing.capture_logs() as logs:
        jobs = intake.claim_batch(journal, [(folder, p) for p in paths])
    assert sorted(j.name for j in jobs) == ["doc-0.pdf", "doc-2.pdf"]
    assert paths[1].exists() and not paths[0].exists() and not paths[2].exists()
    assert journal.counts() == {"claimed": 2}
    failed = [e for e in logs if e["event"] == "job.claim_failed"]
    assert [(e["file"], e["error"]) for e in failed] == [("doc-1.pdf", "Permission denied")]


def test_a_document_whose_sidecar_cannot_be_claimed_is_given_back(
    setup: tuple[FolderConfig, Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, journal = setup
    doc = drop(folder, "scan.pdf", b"the document")
    side = folder.path / "scan.pdf.fax.yaml"
    side.write_text("to: '+12125550199'\n")

    def claim_sidecar(src: Path, hot: Path, job_id: str, *, sync: bool = True) -> Path | None:
        raise OSError(errno.EIO, os.strerror(errno.EIO), str(src))

    monkeypatch.setattr(filing, "claim_sidecar", claim_sidecar)
    assert intake.claim_batch(journal, [(folder, doc)]) == []
    # Never sent to the folder's default number without the sidecar that names its own: back, untouched.
    assert doc.read_bytes() == b"the document" and side.exists()
    assert journal.counts() == {}
    assert list(filing.work_dir(folder.path).iterdir()) == []


def test_a_file_another_daemon_took_is_skipped(setup: tuple[FolderConfig, Journal]) -> None:
    folder, journal = setup
    gone = folder.path / "gone.pdf"
    kept = drop(folder, "kept.pdf")
    jobs = intake.claim_batch(journal, [(folder, gone), (folder, kept)])
    assert [j.name for j in jobs] == ["kept.pdf"]
    assert intake.claim_batch(journal, [(folder, gone)]) == []


@pytest.mark.parametrize("first", ["document", "sidecar"])
def test_orphans_of_a_crash_between_claim_and_journal_come_back_paired(tmp_path: Path, first: str) -> None:
    # What recovery.release_orphans does with a document and its sidecar renamed before a crash, one at a time
    # in whichever order the work area lists them: both come back under their own names, still a pair.
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "scan.pdf").write_bytes(b"doc")
    (hot / "scan.pdf.fax.yaml").write_text("to: '+12125550199'\n")
    doc = filing.claim(hot / "scan.pdf", hot, "j1")
    side = filing.claim_sidecar(hot / "scan.pdf.fax.yaml", hot, "j1")
    assert doc is not None and side is not None
    order = [doc, side] if first == "document" else [side, doc]
    back = [filing.release(path, hot) for path in order]
    assert sorted(p.name for p in back) == ["scan.pdf", "scan.pdf.fax.yaml"]
    assert sorted(p.name for p in hot.iterdir() if p.is_file()) == ["scan.pdf", "scan.pdf.fax.yaml"]
    assert (hot / "scan.pdf").read_bytes() == b"doc"


def test_a_released_file_whose_name_was_taken_meanwhile_gets_a_new_name(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "scan.pdf").write_bytes(b"old")
    work = filing.claim(hot / "scan.pdf", hot, "j1")
    assert work is not None
    (hot / "scan.pdf").write_bytes(b"new")  # dropped again while the first copy was claimed
    back = filing.release(work, hot)
    assert back.name != "scan.pdf" and back.read_bytes() == b"old"
    assert (hot / "scan.pdf").read_bytes() == b"new"


def test_the_claim_records_the_state_it_took_for_the_growth_check(setup: tuple[FolderConfig, Journal]) -> None:
    folder, journal = setup
    path = drop(folder, "scan.pdf")
    st = path.lstat()
    [job] = intake.claim_batch(journal, [(folder, path)])
    stored = journal.get(job.id)
    assert stored is not None
    assert stored.delivery["claimed_as"] == {"size": st.st_size, "mtime_ns": st.st_mtime_ns}  # jobs/settle.py
