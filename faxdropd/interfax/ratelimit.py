"""The status-query budget: InterFAX admits a limited number of FaxQuery/FaxQuery2 calls per account a minute.

One class for every caller (the daemon's tracker, `faxdropd send --wait`), so both count queries the same way.
It never reads a clock: every method takes `now` (a monotonic time), so it is tested without sleeping.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

# InterFAX counts status queries over a sliding 60 s; ours is a second wider so that drift between the two
# clocks' rates can never make a query that is fine for us a -1011 for them.
QUERY_WINDOW = 61.0


class QueryBudget:
    """Our own record of status queries, kept to InterFAX's limit of `per_minute` in any `window` seconds.

    A query is counted from when its reply came back, not from when we asked: InterFAX admits it somewhere
    in between, and only the later bound guarantees that the next query, `window` seconds on, reaches them
    after the earlier one has left their window however slow the first call was.
    """

    def __init__(self, per_minute: int, window: float = QUERY_WINDOW) -> None:
        self.per_minute = per_minute
        self.window = window
        self._times: collections.deque[float] = collections.deque()
        self._blocked_until = 0.0

    def _expire(self, now: float) -> None:
        while self._times and now - self._times[0] >= self.window:
            self._times.popleft()

    def take(self, now: float) -> bool:
        """Reserve a query at `now`; False when the window is full or a -1011 back-off is running."""
        if now < self._blocked_until:
            return False
        self._expire(now)
        if len(self._times) >= self.per_minute:
            return False
        self._times.append(now)
        return True

    def settle(self, now: float) -> None:
        """The reserved query ended (reply, error or timeout) at `now`: count it from then."""
        if self._times:
            self._times[-1] = max(self._times[-1], now)

    def back_off(self, now: float, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, now + seconds)

    def free_at(self, now: float) -> float:
        """When the next query may go (`now` if it may go now)."""
        self._expire(now)
        full = self._times[0] + self.window if len(self._times) >= self.per_minute else now
        return max(now, full, self._blocked_until)

    def dump(self, now: float, wall: float) -> list[float]:
        """The counted queries as wall-clock times, for the next process (InterFAX remembers them too)."""
        self._expire(now)
        return [round(wall - (now - t), 3) for t in self._times]

    def load(self, stamps: Iterable[float], now: float, wall: float) -> None:
        for stamp in sorted(stamps):
            # A stamp from the future (the wall clock went back) counts as now: never as already expired.
            self._times.append(now - max(0.0, wall - stamp))
        self._expire(now)
        while len(self._times) > self.per_minute:
            self._times.popleft()
