"""Where the journal is, read from the config file without validating the rest of it: for `faxdropd show`.

`show` reads one job; it needs `state_dir` and the `journal` keys and nothing else. Building the whole model
loads pydantic and some twenty models, more CPU than the rest of the command (issue #19: `show` ≤ 0.2 s at
100,000 jobs). The keys read here are checked by the functions the models use (`context.py`, `journal.py`),
so a mistake in them stops the command the same way: a `ConfigError` naming the key, exit 78. A mistake
elsewhere in the file is the daemon's and `check-config`'s to report; it does not hide a job's story from
the operator trying to find out what happened during the outage it caused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from faxdropd.config.context import DEFAULT_STATE_DIR, Ctx, resolve_path, single_line
from faxdropd.config.durations import parse_duration
from faxdropd.config.journal import DEFAULT_LEASE, journal_keys, journal_url
from faxdropd.config.yamlfile import read_config_file
from faxdropd.errors import ConfigError, ConfigProblems, Problem

__all__ = ["JournalPlace", "journal_place"]

T = TypeVar("T")


@dataclass(frozen=True)
class JournalPlace:
    """What opening the journal needs; `Config` has the same three attributes."""

    state_dir: Path
    journal: str | None
    journal_password: str | None


def journal_place(path: Path, *, env: Mapping[str, str] | None = None) -> JournalPlace:
    """The journal's place named by the config file at `path` (its password file is tried, not required)."""
    path = Path(path)
    data = read_config_file(path)
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys (interfax:, state_dir:, folders:, …)")
    ctx = Ctx(base_dir=path.parent.absolute(), env=os.environ if env is None else env, need_password=False)
    problems: list[Problem] = []

    def checked(key: str, check: Callable[[object], T]) -> T | None:
        if data.get(key) is None:
            return None
        try:
            return check(data[key])
        except ValueError as exc:
            problems.append((key, str(exc)))
            return None

    state_dir = checked("state_dir", lambda value: resolve_path(value, ctx.base_dir)) or DEFAULT_STATE_DIR
    url = checked("journal", journal_url)
    password_file = checked("journal_password_file", single_line)
    lease = checked("journal_lease", parse_duration)
    secret = None
    if not problems:
        found, secret = journal_keys(url, password_file, DEFAULT_LEASE if lease is None else lease, ctx)
        problems += found
    if problems:
        raise ConfigProblems(problems)
    return JournalPlace(state_dir, url, secret)
