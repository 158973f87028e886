"""What the page may do to a job, and the one place it is done: each action here calls the same code as the
console command, so the page and `faxdropd retry` can never disagree on what "retry" means.

Only Retry is offered until the operator's operations (faxdropd/ops/: cancel, hold, release through the
journal's command table) exist; the page lists an action only when it is in ACTIONS.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from faxdropd.config import Config
from faxdropd.files import filing
from faxdropd.jobs.schema import Job, State

log = structlog.get_logger("faxdropd.web")


class ActionRefused(Exception):
    """The action does not apply to this job (any more): a sentence for the page."""


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    question: str  # asked on the confirmation page
    applies: Callable[[Job], bool]
    run: Callable[[Config, Job], str]  # returns what was done, in words


def _retryable(job: Job) -> bool:
    return job.state in (State.FAILED, State.REJECTED) and bool(job.final_path)


def _retry(cfg: Config, job: Job) -> str:
    """`faxdropd retry PATH` for this job's filed document (cli/commands.py:retry calls filing.requeue too)."""
    folder = next((f for f in cfg.folders if f.name == job.folder), None)
    if folder is None or not job.final_path:
        raise ActionRefused("its folder is no longer in the configuration")
    document = Path(job.final_path)
    if not os.path.lexists(document):
        raise ActionRefused("its document is no longer in the failed folder (retried or removed already)")
    try:
        back = filing.requeue(document, folder.path)
    except OSError as exc:
        raise ActionRefused(f"the document could not be moved back: {exc.strerror or exc}") from None
    return f"put back into {folder.path} as {back.name}; it is sent again shortly"


ACTIONS: dict[str, Action] = {
    "retry": Action(
        "retry", "Retry", "Put this document back into its hot folder to send it again?", _retryable, _retry
    ),
}


def available(job: Job) -> list[Action]:
    return [a for a in ACTIONS.values() if a.applies(job)]


def perform(cfg: Config, name: str, job: Job, user: str) -> str:
    action = ACTIONS.get(name)
    if action is None or not action.applies(job):
        log.warning("web.action_refused", action=name, job_id=job.id, user=user, reason="does not apply")
        raise ActionRefused(f"{name} does not apply to a job that is {job.state}")
    try:
        done = action.run(cfg, job)
    except ActionRefused as exc:
        log.warning("web.action_refused", action=name, job_id=job.id, user=user, reason=str(exc))
        raise
    log.info("web.action", action=name, job_id=job.id, file=job.name, user=user, result=done)
    return done
