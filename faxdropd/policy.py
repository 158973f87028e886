"""Sending policy as pure decisions: the hourly cap, the duplicate window and send windows.

The journal owns the counting; these functions only judge the numbers they are given, so the rules can be
tested exhaustively without a database or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

HOUR = 3600.0
# A cap that is reached but whose oldest send is unknown (or already outside the window because the counts
# are stale) must still not produce "retry now": a minimum step keeps a caller from spinning.
MIN_STEP = 1.0


class SendWindowLike(Protocol):
    """The attributes of config.SendWindow this module reads (days 0=Mon..6=Sun, local times in `tz`)."""

    @property
    def days(self) -> Sequence[int]: ...
    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time: ...
    @property
    def tz(self) -> str: ...


def hourly_decision(sent_last_hour: int, cap: int | None, now: float, oldest_in_window: float | None
                    ) -> float | None:
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


def _span(window: SendWindowLike, day: date) -> tuple[datetime, datetime]:
    """The window that opens on `day`, as aware datetimes; end ≤ start means it runs past midnight."""
    zone = ZoneInfo(window.tz)
    start = datetime.combine(day, window.start, tzinfo=zone)
    end_day = day if window.end > window.start else day + timedelta(days=1)
    return start, datetime.combine(end_day, window.end, tzinfo=zone)


def next_window_opening(window: SendWindowLike, now: datetime) -> datetime | None:
    """None when `now` is inside the window, else the next time it opens (aware, in the window's zone).

    Comparisons are on absolute instants, so DST changes and a `now` in any zone work; a window always opens
    within a week, well under InterFAX's 30-day Postpone limit.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    days = set(window.days)
    if not days or not days <= set(range(7)):
        raise ValueError(f"send window days must be within 0..6 and not empty, got {sorted(days)}")
    # Compare in UTC: two datetimes sharing one ZoneInfo object compare by wall time, wrong across DST.
    now = now.astimezone(UTC)
    local_today = now.astimezone(ZoneInfo(window.tz)).date()
    # Yesterday's window may still be open (overnight windows); then look up to a week ahead.
    for offset in range(-1, 9):
        day = local_today + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        start, end = _span(window, day)
        if start <= now < end:
            return None
        if start > now:
            return start
    raise AssertionError("unreachable: a non-empty weekly window opens within 8 days")  # pragma: no cover
