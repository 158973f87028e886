"""The package's shape, kept by a test: subpackages along the flow, imports pointing one way, no cycles.

The flow is cli → daemon → web → ops/notify → jobs/watch → document → interfax → files/emulator → config →
errors/log. A module may
import from its own subpackage or from any room further down; never up, never sideways into a peer room. Every
import counts, including those deferred into a function: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "faxdropd"

# Rank of each room; a room may import only from rooms of a lower rank (or from itself).
RANK = {
    "errors": 0,
    "log": 0,
    "events": 0,
    "crashpoints": 0,
    "limits": -1,  # MIN_SECRET_LENGTH: a leaf below log/, so the config need not load structlog and rich
    "jsontext": -1,  # the console's indented JSON (orjson): a leaf any command can load on its own
    "tls": -1,  # how a certificate is checked (verify_tls): InterFAX's transport and the SMTP notifier share it
    "data": 0,
    "config": 1,
    "store": 1,  # the journal's database: the connection, the dialects, the SQLite and PostgreSQL backends
    "files": 2,
    "emulator": 2,
    "interfax": 3,
    "document": 4,
    "jobs": 5,
    "watch": 5,
    "ops": 6,  # the operator's operations (queue, show, cancel, hold, release, retry): the console and the web page
    "notify": 6,  # notifications: the sender of the journal's outbox
    "web": 7,  # the front-desk page, served inside the daemon
    "daemon": 8,
    "cli": 9,
    "__main__": 10,
}
MAX_LINES = 350


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported(name: str, path: Path) -> set[str]:
    """Every faxdropd module `name` imports, anywhere in the file."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("faxdropd"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if not target.startswith("faxdropd"):
                continue
            for alias in node.names:
                # `from faxdropd.files import filing` imports the module faxdropd.files.filing.
                sub = f"{target}.{alias.name}"
                found.add(sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).exists() else target)
    found.discard(name)
    return found


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = {name: imported(name, path) for name, path in modules()}


def test_every_room_has_a_rank() -> None:
    rooms = {room(m) for m in GRAPH} - {""}
    assert rooms <= set(RANK), f"rooms without a rank in this test: {sorted(rooms - set(RANK))}"


def test_imports_point_down() -> None:
    upward = [
        f"{m} → {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if room(m) and room(t) and room(m) != room(t) and RANK[room(t)] >= RANK[room(m)]
    ]
    assert upward == []


def test_no_import_cycles() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH[node]):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)
    # A package's __init__ re-exporting its own modules is not a cycle with them.
    real = [c for c in cycles if not (len({room(m) for m in c}) == 1 and any(m.count(".") == 1 for m in c))]
    assert real == []


def test_modules_stay_small() -> None:
    big = {name: n for name, path in modules() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert big == {}


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    # The walk itself must find imports, or every test above passes vacuously.
    assert "faxdropd.jobs.journal" in GRAPH["faxdropd.jobs.pipeline"]
    assert any(t.startswith("faxdropd.daemon") for t in GRAPH["faxdropd.cli.commands"])
