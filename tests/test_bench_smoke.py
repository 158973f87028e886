"""Smoke run of every benchmark at tiny sizes (`python bench/run.py --quick`), so bench/ cannot rot.

Only that each benchmark ran and produced numbers is asserted: timings on a shared CI machine prove nothing,
and the real figures live in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import report as bench_report  # noqa: E402 - needs the repository root on sys.path first
from bench import run as bench_run  # noqa: E402

pytestmark = [pytest.mark.bench, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # One run of all benchmarks for the module: each starts its own emulator and daemon processes.
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    code = bench_run.main(["--quick", "--out", str(out)])
    data: dict[str, Any] = json.loads(out.read_text())
    assert code == 0, data["errors"]
    return data


@pytest.mark.parametrize("name", bench_run.BENCHES)
def test_benchmark_produced_numbers(report: dict[str, Any], name: str) -> None:
    assert name not in report["errors"], report["errors"].get(name)
    results = [r for r in report["results"] if r["bench"] == name]
    assert results, f"{name} produced no figures"
    for r in results:
        assert isinstance(r["value"], int | float) and math.isfinite(r["value"]), r
        assert r["metric"] and r["unit"], r


def test_report_names_the_machine(report: dict[str, Any]) -> None:
    assert report["quick"] is True
    assert report["machine"]["nproc"] and report["machine"]["python"]
    assert report["machine"]["loadavg_at_start"] and report["machine"]["loadavg_at_end"]
    assert report["commit"] and report["date"] and report["command"].startswith("python bench/run.py")


# Every row issue #19 asks for, by benchmark and a word of its figure: the page must show each of them.
ISSUE_19_ROWS = [
    ("cpu", "CPU per 100 KB inline fax"),
    ("overhead", "inline, loopback"),
    ("overhead", "chunked, loopback"),
    ("overhead", "inline, 50 ms per call"),
    ("overhead", "chunked, 50 ms per call"),
    ("scale", "20 vs 10 files"),
    ("scale", "40 vs 10 files"),
    ("scale", "peak RSS"),
    ("scale", "journal size"),
    ("hosts", "2 hosts / 1 host"),
    ("hosts", "submitted twice"),
    ("surfaces", "queue --json"),
    ("surfaces", "show JOB"),
    ("surfaces", "web dashboard"),
    ("surfaces", "filtered job search"),
    ("pgjournal", "journal throughput, PostgreSQL"),
    ("idle", "metrics + web + notify"),
]


@pytest.mark.parametrize(("bench", "words"), ISSUE_19_ROWS)
def test_every_issue_19_row_is_measured(report: dict[str, Any], bench: str, words: str) -> None:
    rows = [r for r in report["results"] if r["bench"] == bench and words in r["metric"]]
    assert rows, f"no {bench} row with {words!r}"
    for r in rows:
        assert r["samples"], r  # the repeats behind the median are kept


def test_page_is_generated_from_the_json(report: dict[str, Any], tmp_path: Path) -> None:
    source = tmp_path / "run.json"
    source.write_text(json.dumps(report))
    page = tmp_path / "PERFORMANCE.md"
    assert bench_report.main([str(source), "--write", str(page)]) == 0
    text = page.read_text()
    assert report["commit"] in text and report["machine"]["loadavg_at_start"] in text
    for r in report["results"]:
        assert r["metric"] in text, r["metric"]
