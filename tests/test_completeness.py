"""Content completeness (document/completeness.py) and the stability rule it feeds (watch/stability.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from faxdropd.document import completeness
from faxdropd.watch.scan import with_content
from faxdropd.watch.stability import FileState, StabilityTracker

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\n" + b"x" * 9000 + b"\nxref\n0 1\ntrailer<<>>\nstartxref\n9\n%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0" + b"j" * 9000 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"p" * 9000 + b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _tiff(data_len: int = 9000) -> bytes:
    # Header, one IFD with StripOffsets (273) and StripByteCounts (279), then the strip.
    ifd = (
        struct.pack("<H", 2)
        + struct.pack("<HHII", 273, 4, 1, 8 + 2 + 24 + 4)
        + struct.pack("<HHII", 279, 4, 1, data_len)
    )
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00\x00\x00\x00" + b"t" * data_len


TIFF = _tiff()
COMPLETE = {"PDF": PDF, "JPEG": JPEG, "PNG": PNG, "TIFF": TIFF}


def judge(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc"
    path.write_bytes(data)
    return completeness.check_file(path)


@pytest.mark.parametrize("kind", COMPLETE)
def test_complete_documents_look_complete(kind: str, tmp_path: Path) -> None:
    assert judge(COMPLETE[kind], tmp_path) == ""


@pytest.mark.parametrize("kind", COMPLETE)
def test_truncated_documents_look_incomplete(kind: str, tmp_path: Path) -> None:
    data = COMPLETE[kind]
    assert judge(data[: len(data) // 2], tmp_path) != ""


@pytest.mark.parametrize("kind", ["PDF", "JPEG", "PNG"])  # TIFF: its own test below
def test_preallocated_documents_with_a_zero_tail_look_incomplete(kind: str, tmp_path: Path) -> None:
    data = COMPLETE[kind]
    half = len(data) // 2
    assert judge(data[:half] + b"\x00" * (len(data) - half), tmp_path) != ""


def test_a_tiff_written_after_its_preallocated_header_is_incomplete(tmp_path: Path) -> None:
    assert judge(TIFF[:8] + b"\x00" * (len(TIFF) - 8), tmp_path) == "TIFF's first IFD is empty (not written yet)"
    assert judge(TIFF[:-100] + b"\x00" * 100, tmp_path) == ""  # zeros in the last strip are image data


def test_reasons_name_what_is_missing(tmp_path: Path) -> None:
    assert judge(PDF[:5000], tmp_path) == "PDF has no %%EOF yet"
    assert judge(b"", tmp_path) == completeness.EMPTY == "empty file"
    assert judge(b"plain text has no end marker", tmp_path) == ""


def test_only_head_and_tail_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = PDF[:4000] + b"y" * 5_000_000 + PDF[-200:]
    path = tmp_path / "big.pdf"
    path.write_bytes(big)
    read: list[int] = []
    real = completeness.os.pread
    monkeypatch.setattr(completeness.os, "pread", lambda fd, n, off: read.append(n) or real(fd, n, off))
    assert completeness.check_file(path) == ""
    assert sum(read) <= completeness.HEAD + completeness.TAIL


def test_probe_attaches_the_verdict_and_reads_an_unchanged_file_once(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(PDF[:5000])
    cache: dict[Path, tuple[FileState, str]] = {}
    state = FileState.from_stat(path.lstat())
    judged = with_content(path, state, cache)
    assert judged is not None and judged.incomplete == "PDF has no %%EOF yet"
    path.write_bytes(PDF)  # same cache entry no longer matches: judged again
    judged = with_content(path, FileState.from_stat(path.lstat()), cache)
    assert judged is not None and judged.incomplete == ""


def st(size: int = 10, incomplete: str = "") -> FileState:
    return FileState(size, 1, 7, True, incomplete)


def test_incomplete_content_waits_for_the_grace_not_stable_seconds() -> None:
    t = StabilityTracker(stable_seconds=1, cooldown=60, incomplete_grace=30)
    half = Path("half.pdf")
    t.observe(half, st(incomplete="PDF has no %%EOF yet"), 0.0)
    t.observe(half, st(incomplete="PDF has no %%EOF yet"), 4.0)  # a scanner pausing longer than stable_seconds
    assert t.ready(4.0) == []
    assert t.next_check() == 30.0
    t.observe(half, FileState(20, 2, 7, True), 5.0)  # the rest arrives: a complete new state
    t.observe(half, FileState(20, 2, 7, True), 6.0)
    assert t.ready(6.0) == [half]


def test_after_the_grace_incomplete_and_empty_files_go_on_to_preflight() -> None:
    t = StabilityTracker(stable_seconds=1, cooldown=60, incomplete_grace=30)
    broken, empty = Path("broken.pdf"), Path("empty.pdf")
    for when in (0.0, 29.0):
        t.observe(broken, st(incomplete="PDF has no %%EOF yet"), when)
        t.observe(empty, st(size=0), when)
    assert t.ready(29.0) == []
    t.observe(broken, st(incomplete="PDF has no %%EOF yet"), 30.0)
    t.observe(empty, st(size=0), 30.0)
    assert sorted(t.ready(30.0)) == [broken, empty]
