"""Sending policy as pure decisions: the hourly cap and the duplicate window (send windows: config/window.py).

The journal owns the counting; these functions only judge the numbers they are given, so the rules can be
tested exhaustively without a database or a clock.
"""

from __future__ import annotations

from collections.abc import Iterable

HOUR = 3600.0
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
