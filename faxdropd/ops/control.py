"""Hold, release and cancel as the operator asks for them: a row per target in the journal's command table.

With the daemon running (it holds the journal's lock) the rows are written in one short transaction beside
it and the caller waits a few seconds for the daemon to apply them. With the daemon stopped the caller takes
the lock itself and applies them at once through the same `Applier` the daemon uses (apply.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from faxdropd.config import Config
from faxdropd.errors import JournalLocked
from faxdropd.jobs import controls
from faxdropd.jobs.finish import Finisher
from faxdropd.jobs.opening import journal_exists, open_journal, target_of, where
from faxdropd.jobs.runtime import Pause, Runtime
from faxdropd.ops.apply import Applier
from faxdropd.ops.journal import NoJournal, daemon_state
from faxdropd.store.opening import open_database

WAIT_SECONDS = 10.0  # how long a command waits for the running daemon to apply it
BUSY_TIMEOUT = 10.0  # seconds SQLite waits for the daemon's commit in progress before our insert
POLL = 0.05


@dataclass(frozen=True)
class Result:
    target: str
    ok: bool | None  # None: recorded, not applied yet (the daemon is busy or stopped meanwhile)
    message: str


class _NoMetrics:
    def job_finished(self, *args: Any) -> None:
        pass


def request(
    cfg: Config,
    verb: str,
    targets: list[str],
    reason: str,
    *,
    cancel_fax: Callable[[], Callable[[int], None] | None] = lambda: None,
    wait: float = WAIT_SECONDS,
) -> tuple[bool, list[Result]]:
    """Record and apply `verb` on each target; returns (whether the daemon was running, the results)."""
    if not journal_exists(cfg):
        raise NoJournal(f"no journal at {where(cfg)}: the daemon has not run with this state_dir yet")
    try:
        journal = open_journal(cfg, exit_on_failure=False)
    except JournalLocked:
        return True, _through_daemon(cfg, verb, targets, reason, wait)
    try:
        ids: list[int] = []
        journal.write("command", lambda conn: ids.extend(controls.add_command(conn, verb, t, reason) for t in targets))
        rt = Runtime(config=cfg, journal=journal, clients=cast(Any, None), metrics=_NoMetrics(), pause=Pause(journal))
        applier = Applier(
            journal,
            folders=lambda: {f.name for f in cfg.folders},
            cancel_fax=cancel_fax() if verb == "cancel" else None,
            refile=Finisher(rt).refile,
        )
        applier.step()
        done = journal.read(lambda conn: [controls.get_command(conn, i) for i in ids])
        return False, [_result(c, t) for c, t in zip(done, targets, strict=True)]
    finally:
        journal.close()


def _through_daemon(cfg: Config, verb: str, targets: list[str], reason: str, wait: float) -> list[Result]:
    # A connection of its own beside the daemon's (SQLite's WAL lets it write between the daemon's commits).
    database = open_database(target_of(cfg))
    conn = database.conn
    try:
        database.begin_write()
        try:
            ids = [controls.add_command(conn, verb, t, reason) for t in targets]
            conn.execute("COMMIT")
        except BaseException:
            database.rollback()
            raise
        deadline = time.monotonic() + wait
        while True:
            found = [controls.get_command(conn, i) for i in ids]
            settled = all(c is not None and c.done_at is not None for c in found)
            # A daemon that died meanwhile applies the rows at its next start: no point waiting for it.
            if settled or time.monotonic() > deadline or not daemon_state(cfg.state_dir).running:
                return [_result(c, t) for c, t in zip(found, targets, strict=True)]
            time.sleep(POLL)
    finally:
        database.close()


def _result(command: controls.Command | None, target: str) -> Result:
    if command is None or command.done_at is None:
        return Result(
            target, None, "recorded, not applied yet: the daemon applies it when it can (or at its next start)"
        )
    return Result(target, bool(command.ok), command.result or "")
