"""What the page may do to a job, through the operator's own operations (faxdropd/ops/): Retry is
`faxdropd retry PATH` (ops.retry), Cancel, Hold and Release are `faxdropd cancel|hold|release JOB`
(ops.control: a row in the journal's command table that the daemon applies). The page never changes a job
itself, so it and the console can never disagree on what an action means.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog

from faxdropd.config import Config
from faxdropd.jobs.schema import Job, State
from faxdropd.ops import control
from faxdropd.ops import retry as ops_retry
from faxdropd.ops.apply import NOT_SUBMITTED

log = structlog.get_logger(__name__)


class ActionRefused(Exception):
    """The action does not apply to this job (any more): a sentence for the page."""


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    question: str  # asked on the confirmation page
    applies: Callable[[Job, bool], bool]  # (job, held) -> offered?
    run: Callable[[Config, Job, str], str]  # (config, job, user) -> what was done, in words


def _retryable(job: Job, held: bool) -> bool:
    return job.state in (State.FAILED, State.REJECTED) and bool(job.final_path)


def _retry(cfg: Config, job: Job, user: str) -> str:
    document = Path(job.final_path or "")
    if not job.final_path or not os.path.lexists(document):
        raise ActionRefused("its document is no longer in the failed folder (retried or removed already)")
    found = ops_retry.candidate(cfg, Path(os.path.realpath(document.parent)) / document.name)
    if found is None:
        raise ActionRefused("its document is not in any folder's failed/ directory")
    if found.certain_repeat:
        raise ActionRefused(f"it would fail the same way ({found.reason}); change the config, then retry")
    try:
        back = ops_retry.requeue(found)
    except OSError as exc:
        raise ActionRefused(f"the document could not be moved back: {exc.strerror or exc}") from None
    return f"put back into {found.hot} as {back.name}; it is sent again shortly"


def _command(verb: str) -> Callable[[Config, Job, str], str]:
    def run(cfg: Config, job: Job, user: str) -> str:
        _running, [result] = control.request(cfg, verb, [job.id], f"{verb} on the front-desk page by {user}")
        if result.ok is False:
            raise ActionRefused(result.message)
        return result.message

    return run


def _holdable(job: Job) -> bool:
    """Not at InterFAX yet: what ops/apply.py will hold (it refuses the rest, and says why)."""
    return job.state in NOT_SUBMITTED and job.outcome is None


def _cancellable(job: Job) -> bool:
    submitted = job.state is State.SUBMITTED and bool(job.transaction_ids)
    return job.outcome is None and (job.state in NOT_SUBMITTED or submitted)


ACTIONS: dict[str, Action] = {
    "retry": Action(
        "retry", "Retry", "Put this document back into its hot folder to send it again?", _retryable, _retry
    ),
    "hold": Action(
        "hold",
        "Hold",
        "Hold this job? It is not sent until released.",
        lambda j, h: _holdable(j) and not h,
        _command("hold"),
    ),
    "release": Action(
        "release", "Release", "Release this job to be sent?", lambda j, h: _holdable(j) and h, _command("release")
    ),
    "cancel": Action(
        "cancel",
        "Cancel",
        "Cancel this fax? It is filed in failed/ (a fax already at InterFAX is cancelled there).",
        lambda j, h: _cancellable(j),
        _command("cancel"),
    ),
}


def available(job: Job, held: bool) -> list[Action]:
    return [a for a in ACTIONS.values() if a.applies(job, held)]


def perform(cfg: Config, name: str, job: Job, held: bool, user: str) -> str:
    action = ACTIONS.get(name)
    if action is None or not action.applies(job, held):
        log.info("web.action_refused", action=name, job_id=job.id, user=user, reason="does not apply")
        raise ActionRefused(f"{name} does not apply to a job that is {job.state}")
    try:
        done = action.run(cfg, job, user)
    except ActionRefused as exc:
        log.info("web.action_refused", action=name, job_id=job.id, user=user, reason=str(exc))
        raise
    log.info("web.action", action=name, job_id=job.id, file=job.name, user=user, result=done)
    return done
