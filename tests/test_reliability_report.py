"""The RELIABILITY.md generator renders exactly what a run printed: figures, summary and mutations."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from reliability import report

MUTATIONS = [
    {"name": "redaction_removed", "tests": ["tests/test_log.py"], "caught": True, "seconds": 3.4, "detail": "1 failed"},
    {"name": "sync_off", "tests": ["a.py", "b.py"], "caught": False, "seconds": 61.0, "detail": "2 passed"},
]
LOG = "\n".join(
    [
        "tests/reliability/test_crash_points.py crash point after_claim: kills=4 inputs=8",
        "FIGURE "
        + json.dumps({"test": "crash_points", "point": "after_claim", "paths": ["inline", "chunked"], "kills": 4}),
        "FIGURE " + json.dumps({"test": "crash_points", "point": "before_send", "paths": ["inline"], "kills": 1}),
        "FIGURE " + json.dumps({"test": "power_loss", "seed": 14, "cuts": 10, "files": 106, "lost": 0}),
        "FIGURE " + json.dumps({"test": "brand_new_kind", "widgets": 7}),
        # Another thread wrote before this line's newline.
        "FIGURE " + json.dumps({"test": "brand_new_kind", "widgets": 8}) + "2026-12-06 [debug] emulator.request",
        "FIGURE not json",
        "======= 2 failed, 11 passed, 3 skipped in 69.12s (0:01:09) =======",
        "1 passed in 2.01s",
        json.dumps(MUTATIONS, indent=2),
    ]
)


def rendered() -> str:
    when = datetime.datetime(2026, 12, 4, 20, 50, tzinfo=datetime.UTC)
    return report.render(report.parse(LOG), "python -m pytest -m reliability", when, "abc1234", "2 CPUs")


def test_figures_become_one_table_per_kind_with_columns_from_the_keys() -> None:
    text = rendered()
    assert "## crash points\n\n| point | paths | kills |\n|---|---|---|\n" in text
    assert "| after_claim | inline, chunked | 4 |" in text
    assert "| before_send | inline | 1 |" in text
    assert "| seed | cuts | files | lost |" in text and "| 14 | 10 | 106 | 0 |" in text
    # A kind the generator has never heard of still gets its table.
    assert "## brand new kind\n\n| widgets |\n|---|\n| 7 |\n| 8 |" in text


def test_header_names_date_commit_machine_command_and_pytest_counts() -> None:
    text = rendered()
    assert "- date: 2026-12-04 20:50 UTC" in text
    assert "- commit: `abc1234`" in text
    assert "- machine: 2 CPUs" in text
    assert "- command: `python -m pytest -m reliability`" in text
    assert "- pytest: 2 failed, 12 passed, 3 skipped" in text
    assert "## Method" in text and "integrity_check" in text


def test_mutation_json_becomes_the_mutation_table() -> None:
    text = rendered()
    assert "1 of 2 caught." in text
    assert "| `redaction_removed` | `tests/test_log.py` | yes | 3 | 1 failed |" in text
    assert "| `sync_off` | a.py, b.py | no | 61 | 2 passed |" in text


def test_main_writes_the_file_from_a_saved_log(tmp_path: Path) -> None:
    log, out = tmp_path / "run.log", tmp_path / "RELIABILITY.md"
    log.write_text(LOG)
    assert report.main(["--from", str(log), "--write", str(out)]) == 0
    text = out.read_text()
    assert "| after_claim | inline, chunked | 4 |" in text and "- commit: `" in text
