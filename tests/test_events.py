"""The event catalogue (faxdropd/events.py) and the events the code emits are the same set, at the same levels."""

from __future__ import annotations

import ast
from pathlib import Path

from faxdropd.events import EVENTS
from faxdropd.events.doc import markdown
from faxdropd.jobs import finish

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "faxdropd"
LEVELS = {"debug", "info", "warning", "error", "critical", "exception"}
# Loggers are named log or _log throughout (or made on the spot); argparse's parser.error is not a log event.
LOGGERS = {"log", "_log"}
# The only calls whose event name is computed, each (module, level) with the names it can take.
DYNAMIC = {
    ("faxdropd/jobs/finish.py", "info"): set(finish._EVENT.values()),
    ("faxdropd/jobs/finish.py", "warning"): set(finish._NOT_SENT_EVENT.values()),
}


def _is_logger(receiver: ast.expr) -> bool:
    """`log.info(...)`, `_log.info(...)` or `log.get_logger().info(...)`."""
    if isinstance(receiver, ast.Name):
        return receiver.id in LOGGERS
    if isinstance(receiver, ast.Call):
        func = receiver.func
        return (func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")) == "get_logger"
    return False


def emitted(keys: dict[str, set[str]] | None = None) -> tuple[dict[str, set[str]], dict[str, int]]:
    """(event → levels it is logged at, module → number of calls with a computed name); fills `keys` with the
    keyword names each event is logged with (calls that spread a dict, `**fields`, are left out)."""
    events: dict[str, set[str]] = {}
    dynamic: dict[str, int] = {}
    keys = {} if keys is None else keys
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE.parent).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in LEVELS or not _is_logger(node.func.value):
                continue
            first = node.args[0] if node.args else None
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                events.setdefault(first.value, set()).add(node.func.attr)
                names = [k.arg for k in node.keywords]
                if None not in names:
                    keys.setdefault(first.value, set()).update(str(n) for n in names if n != "exc_info")
            else:
                dynamic[module] = dynamic.get(module, 0) + 1
                for name in DYNAMIC.get((module, node.func.attr), ()):
                    events.setdefault(name, set()).add(node.func.attr)
    return events, dynamic


def test_every_emitted_event_is_in_the_catalogue_and_every_listed_one_is_emitted() -> None:
    events, _ = emitted()
    assert sorted(set(events) - set(EVENTS)) == [], "emitted but not in faxdropd/events.py"
    assert sorted(set(EVENTS) - set(events)) == [], "in faxdropd/events.py but never emitted"


def test_levels_match_the_catalogue() -> None:
    events, _ = emitted()
    wrong = {n: sorted(lv) for n, lv in events.items() if n in EVENTS and lv != set(EVENTS[n].levels)}
    assert wrong == {}


def test_computed_event_names_only_where_declared() -> None:
    _, dynamic = emitted()
    modules = {module for module, _ in DYNAMIC}
    assert set(dynamic) <= modules, f"log calls with a computed event name outside {sorted(modules)}"


def test_names_follow_the_convention() -> None:
    bad = [n for n in EVENTS if n != n.lower() or n.count(".") != 1 or " " in n]
    assert bad == []


def test_the_walk_finds_events() -> None:
    # The walk must see the calls, or the set comparison above passes on two empty sets.
    events, _ = emitted()
    assert "job.submitted" in events and "watch.folder_down" in events and len(events) > 40


def test_every_key_an_event_is_logged_with_is_in_the_catalogue() -> None:
    keys: dict[str, set[str]] = {}
    emitted(keys)
    missing = {
        n: sorted(k - set(EVENTS[n].fields)) for n, k in keys.items() if n in EVENTS and k - set(EVENTS[n].fields)
    }
    assert missing == {}, "keys logged but not listed in the event's fields (faxdropd/events/)"
    assert keys["job.claimed"] == {"job_id", "folder", "file", "reference"}  # the walk sees the keywords


def test_every_event_says_what_to_do() -> None:
    assert [n for n, e in EVENTS.items() if not e.todo.strip() or not e.meaning.strip()] == []


def test_docs_events_md_is_generated_from_the_catalogue() -> None:
    # Regenerate with: python -m faxdropd.events --markdown > docs/EVENTS.md
    text = (ROOT / "docs" / "EVENTS.md").read_text()
    assert text == markdown()
    assert "| `job.failed` | warning |" in text and "| `account.paused` | error |" in text
