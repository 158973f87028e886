"""Filing on real directories: atomic claims, never overwriting, receipts, sidecars, crash repeats, EXDEV."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from faxdropd.files import filing
from faxdropd.files.filing import (
    WORK_DIR,
    claim,
    claim_sidecar,
    cleanup_work,
    file_document,
    find_filed,
    release,
    requeue,
    unique_destination,
    work_dir,
    write_json_atomic,
)

NOW = datetime(2026, 11, 27, 10, 15, 0, tzinfo=UTC)
STAMP = "20261127T101500Z"


@pytest.fixture
def hot(tmp_path: Path) -> Path:
    path = tmp_path / "hot"
    path.mkdir()
    return path


def drop(folder: Path, name: str, data: bytes = b"document bytes\n") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def claimed(hot: Path, name: str, job_id: str, data: bytes = b"document bytes\n") -> Path:
    work = claim(drop(hot, name, data), hot, job_id)
    assert work is not None
    return work


def receipt(job_id: str, **extra: Any) -> dict[str, Any]:
    return {"job_id": job_id, "outcome": "delivered", "reason": "ok", **extra}


def file_two(hot: Path, one: bytes, two: bytes) -> tuple[Path, Path]:
    """Two jobs filing documents of the same name into sent/."""
    return tuple(  # type: ignore[return-value]
        file_document(claimed(hot, "a.pdf", job, data), hot / "sent", "a.pdf", receipt(job), hot=hot, now=NOW)
        for job, data in (("j1", one), ("j2", two))
    )


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".faxdropd-tmp-"))


# -- claim -----------------------------------------------------------------------------------------------


def test_claim_moves_into_a_private_work_area(hot: Path) -> None:
    src = drop(hot, "invoice.pdf")
    work = claim(src, hot, "job1")
    assert work == hot / WORK_DIR / "job1__invoice.pdf"
    assert not src.exists() and work.read_bytes() == b"document bytes\n"
    assert stat.S_IMODE((hot / WORK_DIR).stat().st_mode) == 0o700


def test_claim_of_a_vanished_file_is_none(hot: Path) -> None:
    assert claim(hot / "gone.pdf", hot, "job1") is None


def test_claim_race_between_threads_has_one_winner(hot: Path) -> None:
    for round_ in range(20):
        src = drop(hot, f"race{round_}.pdf")
        barrier = threading.Barrier(8)
        results: list[Path | None] = []

        def take(job_id: str, src: Path, barrier: threading.Barrier, results: list[Path | None]) -> None:
            barrier.wait()
            results.append(claim(src, hot, job_id))

        threads = [threading.Thread(target=take, args=(f"r{round_}t{i}", src, barrier, results)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len([r for r in results if r is not None]) == 1


def test_claim_race_between_processes_has_one_winner(hot: Path) -> None:
    src = drop(hot, "contested.pdf")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        results = pool.starmap(claim, [(src, hot, f"proc{i}") for i in range(8)])
    winners = [r for r in results if r is not None]
    assert len(winners) == 1 and winners[0].read_bytes() == b"document bytes\n"


def test_claim_keeps_odd_names_and_cuts_long_ones_in_the_stem(hot: Path) -> None:
    odd = os.fsdecode(b"-n \n caf\xc3\xa9 \xff.pdf")
    assert claimed(hot, odd, "job1").name == "job1__" + odd
    long_name = "x" * 251 + ".pdf"
    work = claimed(hot, long_name, "job2")
    assert len(os.fsencode(work.name)) <= 255 and work.name.startswith("job2__x") and work.suffix == ".pdf"


def test_claim_sidecar(hot: Path) -> None:
    side = claim_sidecar(drop(hot, "a.pdf.fax.yaml", b"to: '+441619998888'\n"), hot, "job1")
    assert side == hot / WORK_DIR / "job1__a.pdf.fax.yaml"


def test_work_dir_refuses_a_planted_symlink(hot: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (hot / WORK_DIR).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(NotADirectoryError):
        work_dir(hot)


# -- unique names -----------------------------------------------------------------------------------------


def test_unique_destination_adds_a_timestamp_then_a_counter(tmp_path: Path) -> None:
    names = []
    for _ in range(4):
        path = unique_destination(tmp_path, "invoice.pdf", NOW)
        path.write_bytes(b"x")
        names.append(path.name)
    assert names == ["invoice.pdf", f"invoice.{STAMP}.pdf", f"invoice.{STAMP}-2.pdf", f"invoice.{STAMP}-3.pdf"]


def test_a_receipt_or_sidecar_alone_also_takes_the_name(tmp_path: Path) -> None:
    drop(tmp_path, "a.pdf.receipt.json")
    drop(tmp_path, "b.fax.yaml")
    assert unique_destination(tmp_path, "a.pdf", NOW).name == f"a.{STAMP}.pdf"
    assert unique_destination(tmp_path, "b", NOW).name == f"b.{STAMP}"


def test_unique_destination_refuses_paths(tmp_path: Path) -> None:
    for bad in ("../x.pdf", "..", "a/b", ""):
        with pytest.raises(ValueError):
            unique_destination(tmp_path, bad, NOW)


# -- file_document ----------------------------------------------------------------------------------------


def test_file_document_with_receipt_and_sidecar(hot: Path) -> None:
    work = claimed(hot, "a.pdf", "job1")
    side = claim_sidecar(drop(hot, "a.pdf.fax.yaml", b"to: x\n"), hot, "job1")
    final = file_document(work, hot / "sent", "a.pdf", receipt("job1", cost="0.10"), hot=hot, sidecar=side, now=NOW)
    assert final == hot / "sent" / "a.pdf"
    assert final.read_bytes() == b"document bytes\n"
    assert json.loads((hot / "sent" / "a.pdf.receipt.json").read_text())["job_id"] == "job1"
    assert (hot / "sent" / "a.pdf.fax.yaml").read_bytes() == b"to: x\n"
    assert not work.exists() and side is not None and not side.exists()
    assert leftovers(hot / "sent") == []


def test_filing_never_overwrites(hot: Path) -> None:
    first, second = file_two(hot, b"one", b"two")
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert second.name == f"a.{STAMP}.pdf"
    assert json.loads(Path(f"{second}.receipt.json").read_text())["job_id"] == "j2"
    assert json.loads(Path(f"{first}.receipt.json").read_text())["job_id"] == "j1"


def test_odd_names_are_filed_and_serialised(hot: Path) -> None:
    odd = os.fsdecode(b"-x\nweird \xff name.txt")
    work = claimed(hot, odd, "job1")
    final = file_document(work, hot / "failed", odd, receipt("job1", file=odd), hot=hot)
    assert final.name == odd
    assert json.loads(Path(f"{final}.receipt.json").read_text())["file"] == odd


def test_file_document_is_repeatable_after_a_crash(hot: Path) -> None:
    sent = hot / "sent"
    final = file_document(claimed(hot, "a.pdf", "job1"), sent, "a.pdf", receipt("job1"), hot=hot)
    # The journal never heard about it; the next attempt finds the filed document instead of failing.
    again = file_document(hot / WORK_DIR / "job1__a.pdf", sent, "a.pdf", receipt("job1"), hot=hot)
    assert again == final
    assert find_filed([hot / "failed", sent], "job1") == final


def test_crash_after_receipt_reuses_the_name(hot: Path) -> None:
    sent = hot / "sent"
    sent.mkdir()
    work = claimed(hot, "a.pdf", "job1")
    assert filing._write_receipt(sent / "a.pdf.receipt.json", receipt("job1"), "job1")
    final = file_document(work, sent, "a.pdf", receipt("job1"), hot=hot)
    assert final == sent / "a.pdf"
    assert sorted(p.name for p in sent.iterdir()) == ["a.pdf", "a.pdf.receipt.json"]


def test_crash_between_link_and_unlink_leaves_one_copy(hot: Path) -> None:
    sent = hot / "sent"
    sent.mkdir()
    work = claimed(hot, "a.pdf", "job1")
    assert filing._write_receipt(sent / "a.pdf.receipt.json", receipt("job1"), "job1")
    os.link(work, sent / "a.pdf")  # the link happened, the unlink of the work file did not
    assert file_document(work, sent, "a.pdf", receipt("job1"), hot=hot) == sent / "a.pdf"
    assert not work.exists() and (sent / "a.pdf").stat().st_nlink == 1


def test_a_stranger_squatting_the_name_is_left_alone(hot: Path) -> None:
    sent = hot / "sent"
    sent.mkdir()
    work = claimed(hot, "a.pdf", "job1", b"ours")
    assert filing._write_receipt(sent / "a.pdf.receipt.json", receipt("job1"), "job1")
    drop(sent, "a.pdf", b"theirs")
    final = file_document(work, sent, "a.pdf", receipt("job1"), hot=hot, now=NOW)
    assert final.name == f"a.{STAMP}.pdf" and final.read_bytes() == b"ours"
    assert (sent / "a.pdf").read_bytes() == b"theirs"
    assert find_filed([sent], "job1") == final


def test_vanished_hot_folder_creates_nothing(tmp_path: Path) -> None:
    hot = tmp_path / "hot"  # never created: the share is gone
    with pytest.raises(FileNotFoundError):
        file_document(hot / WORK_DIR / "j__a.pdf", hot / "sent", "a.pdf", receipt("j"), hot=hot)
    assert not hot.exists()


def test_bare_mount_point_gets_no_sent_folder(hot: Path) -> None:
    # The share is unmounted: the mount point is there but empty, so the work file is not.
    with pytest.raises(FileNotFoundError):
        file_document(hot / WORK_DIR / "j__a.pdf", hot / "sent", "a.pdf", receipt("j"), hot=hot)
    assert list(hot.iterdir()) == []


def test_symlink_documents_are_filed_as_links(hot: Path, tmp_path: Path) -> None:
    canary = drop(tmp_path, "canary", b"secret")
    (hot / "link.pdf").symlink_to(canary)
    work = claim(hot / "link.pdf", hot, "job1")
    assert work is not None
    final = file_document(work, hot / "failed", "link.pdf", receipt("job1"), hot=hot)
    assert final.is_symlink() and final.readlink() == canary and canary.read_bytes() == b"secret"


# -- across filesystems (EXDEV) and without hard links ------------------------------------------------------


def _exdev_between_directories(monkeypatch: pytest.MonkeyPatch) -> None:
    real_link = os.link

    def link(src: Any, dst: Any, **kwargs: Any) -> None:
        if Path(src).parent != Path(dst).parent:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_link(src, dst, **kwargs)

    monkeypatch.setattr(os, "link", link)


def test_copy_across_filesystems_when_exdev(hot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    work = claimed(hot, "big.pdf", "job1", data)
    os.chmod(work, 0o640)
    os.utime(work, (1_700_000_000, 1_700_000_000))
    side = claim_sidecar(drop(hot, "big.pdf.fax.yaml", b"to: x\n"), hot, "job1")
    _exdev_between_directories(monkeypatch)
    final = file_document(work, hot / "sent", "big.pdf", receipt("job1"), hot=hot, sidecar=side)
    assert final.read_bytes() == data and not work.exists()
    assert stat.S_IMODE(final.stat().st_mode) == 0o640 and final.stat().st_mtime == 1_700_000_000
    assert (hot / "sent" / "big.pdf.fax.yaml").read_bytes() == b"to: x\n"
    assert leftovers(hot / "sent") == []


def test_failed_copy_keeps_the_source(hot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = claimed(hot, "a.pdf", "job1", b"precious" * 1000)
    _exdev_between_directories(monkeypatch)

    real_write_all = filing._write_all

    def disk_full(fd: int, data: bytes) -> None:
        if len(data) > 1000:  # the receipt fits; the document copy runs out of space half-way
            real_write_all(fd, data[:500])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write_all(fd, data)

    monkeypatch.setattr(filing, "_write_all", disk_full)
    with pytest.raises(OSError, match="No space"):
        file_document(work, hot / "sent", "a.pdf", receipt("job1"), hot=hot)
    assert work.read_bytes() == b"precious" * 1000
    assert leftovers(hot / "sent") == [] and not (hot / "sent" / "a.pdf").exists()


def test_copy_across_directly_for_each_kind(tmp_path: Path) -> None:
    src_dir, dest_dir = tmp_path / "src", tmp_path / "dest"
    src_dir.mkdir()
    dest_dir.mkdir()
    drop(src_dir, "file", b"content")
    (src_dir / "link").symlink_to("/etc/passwd")
    os.mkfifo(src_dir / "fifo")
    for name in ("file", "link", "fifo"):
        filing._copy_across(src_dir / name, dest_dir / name, "t")
        assert not os.path.lexists(src_dir / name)
    assert (dest_dir / "file").read_bytes() == b"content"
    assert os.readlink(dest_dir / "link") == "/etc/passwd"
    assert stat.S_ISFIFO((dest_dir / "fifo").lstat().st_mode)
    drop(src_dir, "again", b"new")
    drop(dest_dir, "again", b"old")
    with pytest.raises(FileExistsError):
        filing._copy_across(src_dir / "again", dest_dir / "again", "t")
    assert (dest_dir / "again").read_bytes() == b"old" and (src_dir / "again").read_bytes() == b"new"
    assert leftovers(dest_dir) == []


def test_real_second_filesystem_if_available(hot: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == hot.stat().st_dev or not os.access(shm, os.W_OK):
        pytest.skip("no second writable filesystem")
    dest = shm / f"faxdropd-test-{os.getpid()}"
    try:
        work = claimed(hot, "a.pdf", "job1", b"across")
        final = file_document(work, dest, "a.pdf", receipt("job1"), hot=hot)
        assert final.read_bytes() == b"across" and not work.exists()
    finally:
        for p in dest.glob("*"):
            p.unlink()
        if dest.exists():
            dest.rmdir()


def test_filesystem_without_hard_links(hot: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    first, second = file_two(hot, b"1", b"2")
    assert (first.read_bytes(), second.read_bytes()) == (b"1", b"2")
    assert json.loads(Path(f"{second}.receipt.json").read_text())["job_id"] == "j2"
    assert leftovers(hot / "sent") == []


# -- requeue, release, cleanup, find, json -------------------------------------------------------------------


def test_requeue_puts_document_and_sidecar_back_and_keeps_the_receipt(hot: Path) -> None:
    work = claimed(hot, "a.pdf", "job1")
    side = claim_sidecar(drop(hot, "a.pdf.fax.yaml", b"to: x\n"), hot, "job1")
    filed = file_document(work, hot / "failed", "a.pdf", receipt("job1"), hot=hot, sidecar=side)
    drop(hot, "a.pdf", b"a new, different a.pdf")
    back = requeue(filed, hot)
    assert back.parent == hot and back.name != "a.pdf" and back.read_bytes() == b"document bytes\n"
    assert (hot / "a.pdf").read_bytes() == b"a new, different a.pdf"
    assert Path(f"{back}.fax.yaml").read_bytes() == b"to: x\n"
    kept = list((hot / WORK_DIR / "retried").iterdir())
    assert len(kept) == 1 and json.loads(kept[0].read_text())["job_id"] == "job1"
    assert list((hot / "failed").iterdir()) == []


def test_cleanup_work_lists_leftovers_only(hot: Path) -> None:
    claimed(hot, "live.pdf", "live1")
    claimed(hot, "orphan.pdf", "dead1")
    claim_sidecar(drop(hot, "orphan.pdf.fax.yaml"), hot, "dead1")
    (hot / WORK_DIR / "retried").mkdir()
    left = cleanup_work(hot, {"live1"})
    assert [p.name for p in left] == ["dead1__orphan.pdf.fax.yaml", "dead1__orphan.pdf"]
    assert all(p.exists() for p in left)
    assert cleanup_work(hot / "nowhere", set()) == []


def test_release_restores_the_original_name(hot: Path) -> None:
    work = claimed(hot, "scan 1.pdf", "dead1")
    assert release(work, hot) == hot / "scan 1.pdf" and not work.exists()


def test_find_filed_handles_missing_dirs_and_junk(hot: Path) -> None:
    sent = hot / "sent"
    sent.mkdir()
    drop(sent, "junk.pdf.receipt.json", b"{not json job1")
    (sent / "link.pdf.receipt.json").symlink_to(sent / "junk.pdf.receipt.json")
    assert find_filed([hot / "missing", sent], "job1") is None


def test_write_json_atomic(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    write_json_atomic(target, {"a": 1})
    write_json_atomic(target, {"a": 2, "when": NOW})
    assert json.loads(target.read_text())["a"] == 2
    assert leftovers(tmp_path) == []


def test_release_of_a_half_durable_claim_keeps_one_name(hot: Path) -> None:
    """A power cut can leave a claimed file under both names (work area synced, hot folder not; powerfs models
    it): releasing it must drop the work-area name, not bring it back as a second input under a stamped name."""
    doc = hot / "scan.pdf"
    doc.write_bytes(b"%PDF-1.4 one document\n")
    work = filing.work_dir(hot) / "0123456789abcdef__scan.pdf"
    os.link(doc, work)
    assert filing.release(work, hot) == doc
    assert not work.exists()
    assert sorted(p.name for p in hot.iterdir() if p.is_file()) == ["scan.pdf"]
    assert doc.read_bytes() == b"%PDF-1.4 one document\n"
