"""The mutation checks in CI, bounded: the three cheapest mutations run on every CI run and must be caught.

The full list (tests/reliability/mutations.py, no arguments) starts daemons, the crash matrix and the power-loss run
for its mutations and takes several minutes; its table, with its duration, is in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reliability import mutations

pytestmark = pytest.mark.reliability

CHEAP = ("ready_on_first_sighting", "follow_symlinks", "synchronous_off")
# A bound on the subprocess, so a hung mutated daemon cannot hold CI: not a speed assertion.
BUDGET_SECONDS = 600


def test_the_cheapest_mutations_are_caught() -> None:
    command = [sys.executable, mutations.__file__, "--json", *(f"--only={name}" for name in CHEAP)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=BUDGET_SECONDS, check=False)
    results = json.loads(done.stdout)
    assert sorted(r["name"] for r in results) == sorted(CHEAP), done.stderr
    not_caught = [(r["name"], r["detail"]) for r in results if not r["caught"]]
    assert not_caught == [], not_caught
    assert done.returncode == 0, done.stderr
    caught = sum(1 for r in results if r["caught"])
    print("FIGURE " + json.dumps({"test": "mutations_ci", "mutations": len(results), "caught": caught}))


def test_a_patch_that_does_not_match_exactly_once_stops_the_run(tmp_path: Path) -> None:
    """A refactoring must not turn a mutation into a silent no-op that 'passes' because nothing was broken."""
    (tmp_path / "m.py").write_text("a = 1\na = 1\n")
    with pytest.raises(SystemExit, match="matches 2 times"):
        mutations.apply(tmp_path, (mutations.Patch("m.py", "a = 1", "a = 2"),))
    with pytest.raises(SystemExit, match="matches 0 times"):
        mutations.apply(tmp_path, (mutations.Patch("m.py", "b = 1", "b = 2"),))


def test_every_mutation_patch_matches_today_s_code(tmp_path: Path) -> None:
    for mutation in mutations.MUTATIONS:
        for patch in mutation.patches:
            found = (mutations.ROOT / patch.file).read_text().count(patch.old)
            assert found == 1, f"{mutation.name}: {patch.file} matches {found} times"
        assert mutation.tests or mutation.skip, mutation.name
