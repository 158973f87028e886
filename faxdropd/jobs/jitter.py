"""Jitter for retry back-off and account pauses, so that after an outage deferred jobs do not all retry at once.

Which jitter, and why:
- Retries get ±20% around the exponential delay ("proportional" jitter), not AWS-style full jitter (uniform
  0..delay): full jitter halves the mean wait and may retry at once, so `retry.initial` would no longer mean
  what the config says; ±20% keeps the schedule an operator reads in the config while spreading a herd of
  jobs that failed together over 40% of the delay. At `retry.cap` the band is [80%, 100%] of the cap: the cap
  stays the longest wait, and jobs at the cap still spread.
- Account pauses only ever get longer (+0..20%): a pause answers InterFAX refusing the account (-1876 blocks
  the user for an hour after repeated failures), so probing earlier than asked is the one thing not to do.
  Jobs held behind a pause are each deferred to a point in the 20% after it ends, so they come back one by
  one instead of all at the pause's end.
"""

from __future__ import annotations

import random

SPREAD = 0.2
_rng = random.Random()  # not for secrets: spreading retries needs no cryptographic randomness


def backoff(attempts: int, initial: float, factor: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempts` (1 = the first retry): exponential, capped, ±20%."""
    delay = min(cap, initial * factor ** max(0, attempts - 1))
    return (rng or _rng).uniform(delay * (1 - SPREAD), min(cap, delay * (1 + SPREAD)))


def pause_length(seconds: float, rng: random.Random | None = None) -> float:
    """An account pause of at least `seconds`, up to 20% longer."""
    return seconds * (rng or _rng).uniform(1.0, 1 + SPREAD)


def after_pause(until: float, now: float, rng: random.Random | None = None) -> float:
    """When a job held behind a pause ending at `until` runs again: in the 20% of the remaining pause after it."""
    return until + max(0.0, until - now) * (rng or _rng).uniform(0.0, SPREAD)
