"""jobs/settle.py: a claimed document that still changes, or still looks cut off, is not pre-flighted."""

from __future__ import annotations

import os
from pathlib import Path

from faxdropd.jobs import settle

PDF = b"%PDF-1.4\n" + b"x" * 5000 + b"\nstartxref\n9\n%%EOF\n"


def test_a_claimed_file_that_grows_waits_and_the_newest_state_is_recorded(tmp_path: Path) -> None:
    work = tmp_path / "job__scan.pdf"
    work.write_bytes(PDF[:3000])
    delivery = {"claimed_as": settle.observe(work)}
    with work.open("ab") as f:  # the writer kept its descriptor across the claim's rename
        f.write(PDF[3000:])
    waiting = settle.still_changing(work, delivery, grace=300)
    assert waiting is not None and waiting[0] == "file still being written after it was claimed"
    assert waiting[1] == settle.observe(work)
    assert settle.still_changing(work, {"claimed_as": waiting[1]}, grace=300) is None  # settled and complete


def test_cut_off_content_waits_until_its_grace_after_the_last_write(tmp_path: Path) -> None:
    work = tmp_path / "job__scan.pdf"
    work.write_bytes(PDF[:3000])
    delivery = {"claimed_as": settle.observe(work)}
    waiting = settle.still_changing(work, delivery, grace=300)
    assert waiting is not None and waiting[0] == "content incomplete: PDF has no %%EOF yet"
    os.utime(work, (1, 1))  # written long ago: pre-flight decides (and rejects it)
    assert settle.still_changing(work, {"claimed_as": settle.observe(work)}, grace=300) is None


def test_jobs_without_a_recorded_state_or_without_their_file_go_on(tmp_path: Path) -> None:
    work = tmp_path / "job__scan.pdf"
    work.write_bytes(PDF[:3000])
    assert settle.still_changing(work, {}, grace=300) is None
    assert settle.still_changing(tmp_path / "gone.pdf", {"claimed_as": {"size": 1, "mtime_ns": 1}}, grace=300) is None
