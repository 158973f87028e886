"""Admission of a fax: the hourly cap, the duplicate window, the cover page (send windows: config/window.py).

The daemon's pipeline and `faxdropd explain` both call the checks here, so explain's answer is the daemon's.
The rules themselves (`hourly_decision`, `is_duplicate`, `cover_problem`) are pure and judge the numbers they
are given; `hourly_wait` and `duplicate_of` fetch those numbers from the journal.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from faxdropd.document import preflight
from faxdropd.errors import Rejected
from faxdropd.jobs.journal import Job, Journal
from faxdropd.store import dialect

HOUR = 3600.0
# The advisory lock that makes check-then-reserve one step across the instances of a shared journal.
ADMISSION_LOCK = 0x66617865


@contextlib.contextmanager
def across_instances(journal: Journal) -> Iterator[None]:
    """Hold the admission lock of every instance on this journal around a check and its reservation.

    The pipeline's own lock orders this process's workers; on a shared journal a second host could pass the
    same check at the same moment (two sends for one hourly slot, or both copies of a duplicate), so the check
    and the UPLOADING commit that counts it are taken under a PostgreSQL session lock. SQLite: one host only.
    """
    if not journal.shared:
        yield
        return
    journal.read(lambda conn: conn.execute(dialect.SESSION_LOCK.format(key=ADMISSION_LOCK)).fetchall())
    try:
        yield
    finally:
        journal.read(lambda conn: conn.execute(dialect.SESSION_UNLOCK.format(key=ADMISSION_LOCK)).fetchall())


# A cap that is reached but whose oldest send is unknown (or already outside the window because the counts
# are stale) must still not produce "retry now": a minimum step keeps a caller from spinning.
MIN_STEP = 1.0


def hourly_decision(sent_last_hour: int, cap: int | None, now: float, oldest_in_window: float | None) -> float | None:
    """None when another fax may go now, else the epoch time at which the cap frees a slot.

    `sent_last_hour` counts submissions in (now - 1h, now]; `oldest_in_window` is the earliest of them.
    A slot frees when that oldest submission leaves the sliding window. A cap of 0 holds everything
    (re-checked hourly).
    """
    if cap is None or sent_last_hour < cap:
        return None
    if cap <= 0 or oldest_in_window is None:
        return now + HOUR
    return max(oldest_in_window + HOUR, now + MIN_STEP)


def is_duplicate(previous_sends: Iterable[float], window: float, now: float) -> bool:
    """True when the same content went to the same number within `window` seconds before `now`.

    A timestamp in the future (clock stepped back) counts as recent: when unsure, hold rather than resend.
    A window of 0 or less disables the check.
    """
    if window <= 0:
        return False
    return any(sent >= now - window for sent in previous_sends)


def duplicate_of(
    journal: Journal, sha256: str, numbers: list[str], window: float, now: float, exclude: str
) -> Job | None:
    """The earlier job that makes this one a duplicate: same content to an overlapping number within `window`,
    sent or about to be (journal.sends_of counts uploading, submitted, delivered and deferred jobs)."""
    if window <= 0:
        return None
    for other in journal.sends_of(sha256, now - window, exclude=exclude):
        if set(numbers) & set(other.numbers):
            return other
    return None


def hourly_wait(journal: Journal, cap: int | None, folder: str, folder_cap: int | None, now: float) -> float | None:
    """None when the global and the folder's hourly caps let a fax go now, else when the later one frees a slot."""
    waits = []
    # No cap, no query: reading every submission of the last hour per fax grows with the backlog.
    if cap is not None:
        times = journal.submitted_since(now - HOUR)
        waits.append(hourly_decision(len(times), cap, now, times[0] if times else None))
    if folder_cap is not None:
        times = journal.submitted_since(now - HOUR, folder=folder)
        waits.append(hourly_decision(len(times), folder_cap, now, times[0] if times else None))
    found = [w for w in waits if w is not None]
    return max(found) if found else None


def open_cover(
    cover: Path, hot: Path, document_pages: int | None, max_pages: int, stack: contextlib.ExitStack
) -> preflight.Checked | str:
    """The cover page, opened (and closed by `stack`) to go first in the fax; or the rejection's sentence."""
    hot = hot.resolve()
    # A sidecar's cover page was proven inside the hot folder; opening it against that folder (not its
    # own parent) keeps a directory swapped for a symlink since then from leading outside.
    boundary = hot if cover.is_relative_to(hot) else cover.parent
    try:
        cover_doc = stack.enter_context(preflight.open_document(cover, boundary, max_pages=max_pages))
    except Rejected as exc:
        return f"cover page {cover.name}: {exc.reason}"
    except FileNotFoundError:
        return f"cover page {cover} does not exist"
    problem = cover_problem(cover_doc.pages, document_pages, max_pages)
    return cover_doc if problem is None else problem


def cover_problem(cover_pages: int | None, document_pages: int | None, max_pages: int) -> str | None:
    """A cover page must not push the fax over limits.pages_per_fax (unknown page counts are not judged)."""
    total = (cover_pages or 1) + (document_pages or 1)
    if cover_pages is not None and document_pages is not None and total > max_pages:
        return f"{total} pages with the cover page; limits.pages_per_fax is {max_pages}"
    return None
