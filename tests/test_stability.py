"""Pure rules of intake: name patterns and the stability tracker, with made-up times."""

from __future__ import annotations

from pathlib import Path

import pytest

from faxdropd.files.names import is_sidecar
from faxdropd.watch.stability import (
    DEFAULT_IGNORE,
    FileState,
    StabilityTracker,
    is_ignored,
    is_wanted,
    matches,
)

INCLUDE = ["*.pdf", "*.tif", "*.txt"]


def st(size: int = 10, mtime: int = 1, ino: int = 7, regular: bool = True) -> FileState:
    return FileState(size, mtime, ino, regular)


# -- patterns ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "patterns"),
    [("scan.pdf", ["*.PDF"]), ("SCAN.PDF", ["*.pdf"]), ("Invoice.Tif", ["*.tif"]), ("a b.pdf", ["a*.pdf"])],
)
def test_matches_is_case_insensitive_on_the_bare_name(name: str, patterns: list[str]) -> None:
    assert matches(name, patterns)


def test_matches_does_not_need_full_match_globs() -> None:
    # watchdog 7's PurePath.full_match needs "**/*.pdf"; on a bare name "*.pdf" is what users write.
    assert matches("x.pdf", ["*.pdf"])
    assert not matches("x.pdf.part", ["*.pdf"])


@pytest.mark.parametrize(
    "name",
    ["~$report.docx", "x.tmp", "x.TMP", "upload.part", ".hidden.pdf", "Thumbs.db", "THUMBS.DB", "desktop.ini",
     ".DS_Store", "._scan.pdf", "@eaDir"],
)  # fmt: skip
def test_default_ignores_always_apply(name: str) -> None:
    assert is_ignored(name)
    assert not is_wanted(name, ["*"])
    assert not is_wanted(name, [])


def test_configured_ignore_adds_to_the_defaults() -> None:
    assert not is_wanted("draft-1.pdf", INCLUDE, ["draft*"])
    assert is_wanted("final.pdf", INCLUDE, ["draft*"])
    assert not is_wanted("x.tmp", INCLUDE, ["draft*"])
    assert "~$*" in DEFAULT_IGNORE


def test_include_limits_what_is_taken_and_empty_include_takes_all() -> None:
    assert is_wanted("a.pdf", INCLUDE)
    assert not is_wanted("a.doc", INCLUDE)
    assert is_wanted("a.doc", [])


def test_sidecars_are_recognised_and_wanted_whatever_the_include() -> None:
    assert is_sidecar("invoice.pdf.fax.yaml")
    assert is_sidecar("INVOICE.PDF.FAX.YAML")
    assert not is_sidecar("invoice.pdf")
    assert not is_sidecar(".fax.yaml")
    assert is_wanted("invoice.pdf.fax.yaml", ["*.pdf"])
    assert not is_wanted("invoice.pdf.fax.yaml", ["*.pdf"], ["*.yaml"])  # ignore still wins


# -- tracker -----------------------------------------------------------------------------------------------


def test_ready_needs_two_equal_observations_stable_seconds_apart() -> None:
    t = StabilityTracker(stable_seconds=5, cooldown=60)
    p = Path("/in/a.pdf")
    t.observe(p, st(), 100.0)
    assert t.ready(104.0) == []
    assert t.needs_check(104.0) == []
    # Time alone is not enough: the file must be seen again after the window.
    assert t.ready(106.0) == []
    assert t.needs_check(106.0) == [p]
    t.observe(p, st(), 106.0)
    assert t.needs_check(106.0) == []
    assert t.ready(106.0) == [p]


def test_a_change_restarts_the_window() -> None:
    t = StabilityTracker(5, 60)
    p = Path("/in/a.pdf")
    t.observe(p, st(size=10), 100.0)
    t.observe(p, st(size=20, mtime=2), 104.0)
    t.observe(p, st(size=20, mtime=2), 106.0)
    assert t.ready(106.0) == []
    t.observe(p, st(size=20, mtime=2), 109.0)
    assert t.ready(109.0) == [p]


@pytest.mark.parametrize("changed", [st(size=11), st(mtime=2), st(ino=8)])
def test_size_mtime_or_inode_change_counts(changed: FileState) -> None:
    t = StabilityTracker(1, 60)
    p = Path("/in/a.pdf")
    t.observe(p, st(), 0.0)
    t.observe(p, changed, 2.0)
    assert t.ready(2.0) == []


def test_reported_once_then_again_only_after_cooldown_and_a_fresh_look() -> None:
    t = StabilityTracker(1, 60)
    p = Path("/in/a.pdf")
    t.observe(p, st(), 0.0)
    t.observe(p, st(), 1.0)
    assert t.ready(1.0) == [p]
    assert t.ready(1.2) == []
    t.observe(p, st(), 30.0)
    assert t.ready(30.0) == []
    assert t.needs_check(60.5) == []
    assert t.needs_check(61.0) == [p]
    assert t.ready(61.5) == []  # not seen since the cooldown ended
    t.observe(p, st(), 61.5)
    assert t.ready(61.5) == [p]


def test_a_touched_file_comes_back_after_settling_without_waiting_for_the_cooldown() -> None:
    t = StabilityTracker(1, 60)
    p = Path("/in/a.pdf")
    t.observe(p, st(), 0.0)
    t.observe(p, st(), 1.0)
    assert t.ready(1.0) == [p]
    t.observe(p, st(mtime=5), 2.0)
    t.observe(p, st(mtime=5), 3.0)
    assert t.ready(3.0) == [p]


def test_unreport_offers_a_path_again_at_once() -> None:
    t = StabilityTracker(1, 60)
    p = Path("/in/a.pdf")
    t.observe(p, st(), 0.0)
    t.observe(p, st(), 1.0)
    assert t.ready(1.0) == [p]
    t.unreport(p)
    assert t.ready(1.1) == [p]


def test_empty_regular_files_wait_but_special_files_are_reported() -> None:
    t = StabilityTracker(1, 60)
    empty, fifo = Path("/in/empty.pdf"), Path("/in/pipe.pdf")
    t.observe(empty, st(size=0), 0.0)
    t.observe(fifo, st(size=0, regular=False), 0.0)
    assert t.needs_check(5.0) == [fifo]
    t.observe(empty, st(size=0), 5.0)
    t.observe(fifo, st(size=0, regular=False), 5.0)
    assert t.ready(5.0) == [fifo]
    assert t.waiting() == 1


def test_gone_files_are_forgotten_and_sync_drops_missing_ones() -> None:
    t = StabilityTracker(1, 60)
    a, b = Path("/in/a.pdf"), Path("/in/b.pdf")
    t.observe(a, st(), 0.0)
    t.observe(b, st(ino=9), 0.0)
    t.observe(a, None, 0.5)
    assert len(t) == 1
    t.sync({a: st()}, 1.0)
    assert len(t) == 1
    t.sync({a: st()}, 2.0)
    assert t.ready(2.0) == [a]


def test_slow_scan_bracket_can_only_delay_readiness() -> None:
    t = StabilityTracker(5, 60)
    p = Path("/in/a.pdf")
    # First listing took from t=0 to t=3: the state may have been new at t=3, so the window starts there.
    t.observe(p, st(), 0.0, 3.0)
    t.observe(p, st(), 6.0, 6.5)
    assert t.ready(6.5) == []
    t.observe(p, st(), 8.0, 8.2)
    assert t.ready(8.2) == [p]


def test_ready_is_oldest_first() -> None:
    t = StabilityTracker(0, 60)
    names = {"c.pdf": 3, "a.pdf": 1, "b.pdf": 2}
    for name, mtime in names.items():
        t.observe(Path("/in", name), st(mtime=mtime, ino=mtime), 0.0)
    assert [p.name for p in t.ready(0.0)] == ["a.pdf", "b.pdf", "c.pdf"]


def test_file_state_from_stat(tmp_path: Path) -> None:
    f = tmp_path / "x.pdf"
    f.write_bytes(b"abc")
    state = FileState.from_stat(f.lstat())
    assert state.size == 3 and state.regular and state.ino == f.lstat().st_ino
    link = tmp_path / "l.pdf"
    link.symlink_to(f)
    assert not FileState.from_stat(link.lstat()).regular


def test_next_check_is_the_earliest_pending_observation_and_ignores_confirmed_files() -> None:
    t = StabilityTracker(stable_seconds=5, cooldown=60)
    assert t.next_check() == float("inf")
    t.observe(Path("a"), st(), 100.0)
    t.observe(Path("b"), st(ino=8), 102.0)
    t.observe(Path("empty"), st(size=0, ino=9), 90.0)  # a placeholder: checked after incomplete_grace (300 s)
    assert t.next_check() == 105.0
    t.observe(Path("a"), st(), 105.5)  # confirmed: ready, no longer waiting for a check
    assert t.next_check() == 107.0
    assert t.ready(106.0) == [Path("a")]
    assert t.next_check() == 107.0
    t.observe(Path("b"), st(ino=8), 107.0)
    assert t.ready(107.0) == [Path("b")]
    assert t.next_check() == 106.0 + 60  # a's cooldown: a fresh lstat then may report it again
