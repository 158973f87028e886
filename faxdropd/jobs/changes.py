"""One job's change as statements, and several jobs' changes in one commit (the journal's writers, mixed in)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence

from faxdropd.errors import JobTaken
from faxdropd.jobs.outbox import insert
from faxdropd.jobs.pending import Change
from faxdropd.jobs.schema import JSON_COLUMNS, Job, to_sql
from faxdropd.store.conn import Conn


class ChangesMixin:
    _db: Conn
    owner: str | None

    def _write(self, what: str, apply: Callable[[], None]) -> None:
        raise NotImplementedError

    def _event(self, job_id: str, old: str | None, new: str, detail: str, now: float) -> None:
        raise NotImplementedError

    def change_many(self, changes: Sequence[Change]) -> list[Job | None]:
        """Several jobs' changes in one commit, so a batch pays one fsync (the tracker's poll round).

        A job another instance took over is left out (None in its place) and the others commit, as if each had
        been written alone.
        """
        prepared = [self._statements(change) for change in changes]
        taken: set[int] = set()

        def apply() -> None:
            for index, (statements, _) in enumerate(prepared):
                try:
                    statements()
                except JobTaken:
                    # Raised by its guarded UPDATE, which matched no row, before any other statement: no undo.
                    taken.add(index)

        if prepared:
            self._write("transition", apply)
        return [None if index in taken else done() for index, (_, done) in enumerate(prepared)]

    def _statements(self, change: Change) -> tuple[Callable[[], None], Callable[[], Job]]:
        """The statements of one change, and what updates the caller's job once they are committed."""
        job, fields, now = change.job, dict(change.fields), time.time()
        to = job.state if change.to is None else change.to
        fields["state"] = to
        fields["updated_at"] = now
        values = {k: (json.dumps(v) if k in JSON_COLUMNS else to_sql(v)) for k, v in fields.items()}
        # `?`, not `:name`: sqlite3 lets go of the GIL once per named parameter to look its name up.
        assignments = ", ".join(f"{k} = ?" for k in values)
        # Guarded on the owner: a job another instance took over (our lease expired) is no longer ours to
        # change, whatever this worker still believes (fencing, jobs/leases.py).
        guard = "" if self.owner is None else " AND (owner IS NULL OR owner = ?)"
        sql = f"UPDATE jobs SET {assignments} WHERE id = ?{guard}"  # noqa: S608
        args = [*values.values(), job.id, *([self.owner] if guard else [])]

        def apply() -> None:
            if self._db.execute(sql, args).rowcount == 0 and guard:
                raise JobTaken(f"job {job.id} was taken over by another instance")
            self._event(job.id, str(job.state), str(to), change.detail, now)
            insert(self._db, change.notices, now, self.owner)  # the outbox rows this change causes: both or neither

        def done() -> Job:
            for key, value in fields.items():
                setattr(job, key, value)
            return job

        return apply, done
