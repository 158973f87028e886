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

from bench import run as bench_run  # noqa: E402 - needs the repository root on sys.path first

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
