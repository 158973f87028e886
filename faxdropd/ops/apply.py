"""Applying the operator's commands (hold, release, cancel) from the journal's command table.

One code path for both cases: the running daemon calls `Applier.step()` every pass of its main loop; with
the daemon stopped, the command process takes the journal's lock itself and calls the same `step()`. Each
command's effect and its `done` mark are one transaction (controls.py), so a crash between reading a
command and applying it leaves it pending, and the next step applies it exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import partial

import structlog

from faxdropd import crashpoints
from faxdropd.errors import InterfaxError, JournalFailure
from faxdropd.jobs import controls
from faxdropd.jobs.journal import FINAL, Job, Journal, State
from faxdropd.store.conn import Conn

log = structlog.get_logger("faxdropd.ops.apply")

HOLD, RELEASE, CANCEL = "hold", "release", "cancel"
VERBS = (HOLD, RELEASE, CANCEL)
FOLDER_PREFIX = "folder:"
# A job in these states has not reached InterFAX: holding or cancelling it is a matter of the journal alone.
NOT_SUBMITTED = frozenset({State.CLAIMED, State.DEFERRED, State.UPLOADING})


@dataclass
class Effect:
    ok: bool
    message: str
    statements: Callable[[Conn], None] = lambda conn: None


@dataclass
class Applier:
    """`busy(job_id)`: a worker is processing it now (the daemon; never, offline). `cancel_fax`: CancelFax,
    or None without the password. `refile`: files a job whose outcome is recorded. `folders`: known names."""

    journal: Journal
    folders: Callable[[], set[str]]
    busy: Callable[[str], bool] = lambda job_id: False
    cancel_fax: Callable[[int], None] | None = None
    refile: Callable[[Job], object] = lambda job: None
    # Held around each command's decision and commit (the daemon's gate against its workers, Controls.taking).
    guard: Callable[[], AbstractContextManager[object]] = nullcontext
    released: list[str] = field(default_factory=list)  # job ids a release made runnable again

    def step(self) -> list[str]:
        """Apply every pending command it can now; returns the ids of jobs a release made runnable."""
        self.released = []
        for command in self.journal.read(controls.pending_commands):
            crashpoints.hit("after_command_read")
            with self.guard():
                effect = self._apply(command)
            if effect is None:
                continue  # its job is being processed right now: the next step tries again
            log.info("operator.command", verb=command.verb, target=command.target, ok=effect.ok, result=effect.message)
            if command.verb == CANCEL and effect.ok:
                job = self.journal.get(command.target)
                if job is not None and job.outcome is not None:
                    self.refile(job)
        return self.released

    def _apply(self, command: controls.Command) -> Effect | None:
        """Decide `command`'s effect and commit it with the command's done mark; None: not now."""
        try:
            effect = self._effect(command)
        except Exception as exc:  # a bug must not stop the main loop, nor come back every pass
            log.exception("operator.command_failed", verb=command.verb, target=command.target)
            effect = Effect(False, f"internal error: {exc}")
        if effect is None:
            return None

        def statements(conn: Conn, e: Effect = effect) -> None:
            e.statements(conn)
            controls.finish_command(conn, command.id, e.ok, e.message)

        try:
            self.journal.write("command", statements)
        except JournalFailure:
            raise
        except Exception as exc:  # its statements failed (rolled back alone): the command fails, once
            log.exception("operator.command_failed", verb=command.verb, target=command.target)
            effect = Effect(False, f"internal error: {exc}")
            self.journal.write("command", partial(statements, e=effect))
        return effect

    def _effect(self, command: controls.Command) -> Effect | None:
        verb, target, reason = command.verb, command.target, command.reason
        if target.startswith(FOLDER_PREFIX):
            return self._folder(verb, target.removeprefix(FOLDER_PREFIX), reason)
        job = self.journal.get(target)
        if job is None:
            return Effect(False, f"no job {target}")
        if self.busy(job.id):
            return None
        if verb == RELEASE:
            return self._release_job(job)
        if job.state in FINAL:
            return Effect(False, f"job {job.id} ({job.name}) is already {job.state}")
        if job.outcome is not None:
            return Effect(False, f"job {job.id} ({job.name}) is already decided ({job.outcome}) and being filed")
        if verb == HOLD:
            return self._hold_job(job, reason)
        if verb == CANCEL:
            return self._cancel_job(job, reason)
        return Effect(False, f"unknown command {verb!r}")

    def _folder(self, verb: str, name: str, reason: str) -> Effect:
        if name not in self.folders():
            return Effect(False, f"no folder named {name!r} in the configuration")
        if verb == HOLD:
            return Effect(True, f"held folder {name}", _hold_folder(name, reason))
        if verb == RELEASE:
            self.released += [j.id for j in self.journal.by_state(State.CLAIMED, State.DEFERRED) if j.folder == name]
            return Effect(True, f"released folder {name}", _release_folder(name))
        return Effect(False, f"{verb} takes jobs, not folders")

    def _hold_job(self, job: Job, reason: str) -> Effect:
        if job.state not in NOT_SUBMITTED:
            return Effect(False, f"job {job.id} ({job.name}) is already {job.state}: cancel it instead of holding")

        def statements(conn: Conn) -> None:
            if _hold(conn, controls.JOB, job.id, reason):
                controls.note_event(conn, job.id, str(job.state), f"held by operator: {reason}" if reason else "held")

        return Effect(True, f"held job {job.id} ({job.name})", statements)

    def _release_job(self, job: Job) -> Effect:
        self.released.append(job.id)

        def statements(conn: Conn) -> None:
            if _release(conn, controls.JOB, job.id):
                controls.note_event(conn, job.id, str(job.state), "released by operator")

        return Effect(True, f"released job {job.id} ({job.name})", statements)

    def _cancel_job(self, job: Job, reason: str) -> Effect:
        text = f"cancelled by operator: {reason or 'no reason given'}"
        if job.state in NOT_SUBMITTED:

            def statements(conn: Conn) -> None:
                controls.decide_cancelled(conn, job.id, str(job.state), text)
                _release(conn, controls.JOB, job.id)

            return Effect(True, f"cancelled job {job.id} ({job.name}): filed in failed/", statements)
        if job.state is not State.SUBMITTED or not job.transaction_ids:
            return Effect(False, f"job {job.id} ({job.name}) is {job.state}: its submission is not settled yet")
        if self.cancel_fax is None:
            return Effect(
                False, f"job {job.id} ({job.name}) is at InterFAX: cancelling it needs the daemon or the password"
            )
        problems = []
        for tid in job.transaction_ids:
            try:
                self.cancel_fax(tid)
            except InterfaxError as exc:  # already final at InterFAX, or unreachable
                problems.append(f"{tid}: {exc}")
        if problems and len(problems) == len(job.transaction_ids):
            return Effect(False, f"CancelFax for job {job.id} ({job.name}) failed: {'; '.join(problems)}")
        tids = ", ".join(str(t) for t in job.transaction_ids)
        return Effect(
            True,
            f"cancelled job {job.id} ({job.name}) at InterFAX (transaction {tids}); filed by its final status",
            lambda c: controls.note_event(c, job.id, str(job.state), f"CancelFax sent: {text}"),
        )


def _hold(conn: Conn, kind: str, name: str, reason: str) -> bool:
    return controls.set_hold(conn, kind, name, reason)


def _release(conn: Conn, kind: str, name: str) -> bool:
    return controls.clear_hold(conn, kind, name)


def _hold_folder(name: str, reason: str) -> Callable[[Conn], None]:
    def statements(conn: Conn) -> None:
        _hold(conn, controls.FOLDER, name, reason)

    return statements


def _release_folder(name: str) -> Callable[[Conn], None]:
    def statements(conn: Conn) -> None:
        _release(conn, controls.FOLDER, name)

    return statements
