"""Durations as operators write them ("30s", "5m", "1h30m", 0.5) turned into float seconds, and back.

Every time or duration in the config goes through `parse_duration`, so one grammar and one set of error
sentences covers all of them.
"""

from __future__ import annotations

import math
import re

__all__ = ["format_duration", "parse_duration", "plural"]

_UNITS: dict[str, float] = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

# One or more "<number><unit>" parts, optionally separated by blanks: "1h30m", "1h 30m", "1.5h".
_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*([smhd])", re.IGNORECASE)
_PLAIN = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*")

_HINT = 'write a number of seconds (30, 0.5) or a number with a unit s, m, h or d ("30s", "5m", "1h30m")'

# A bound that keeps every later `time.monotonic() + seconds` finite and representable as a timestamp.
_MAX_SECONDS = 100 * 365 * 86400.0


def parse_duration(value: object) -> float:
    """Return `value` as seconds: 5 -> 5.0, 0.5 -> 0.5, "30s" -> 30.0, "5m" -> 300.0, "1h30m" -> 5400.0.

    Raises ValueError with a sentence an operator can act on. The sentence never quotes the value: a password
    pasted under the wrong key must not end up in a log line.
    """
    # bool is an int subclass, and YAML turns `yes`/`on` into True: refuse it rather than read it as 1 second.
    if isinstance(value, bool):
        raise ValueError(f"must be a duration, not true/false; {_HINT}")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"is too large for a duration (at most {_MAX_SECONDS:.0f} seconds)") from None
        return _checked(seconds)
    if not isinstance(value, str):
        raise ValueError(f"must be a duration; {_HINT}")
    text = value.strip()
    if not text:
        raise ValueError(f"must not be empty; {_HINT}")
    plain = _PLAIN.fullmatch(text)
    if plain:
        return _checked(float(plain.group(1)))
    total = 0.0
    position = 0
    seen: set[str] = set()
    for match in _PART.finditer(text):
        if match.start() != position:
            break
        unit = match.group(2).lower()
        if unit in seen:
            raise ValueError(f"names the unit {unit!r} twice; {_HINT}")
        seen.add(unit)
        total += float(match.group(1)) * _UNITS[unit]
        position = match.end()
    if position == 0 or text[position:].strip():
        if text.startswith("-"):
            raise ValueError("is negative; a duration must be 0 or more")
        raise ValueError(f"is not a duration; {_HINT}")
    return _checked(total)


def _checked(seconds: float) -> float:
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError("must be a finite number of seconds")
    if seconds < 0:
        raise ValueError("is negative; a duration must be 0 or more")
    if seconds > _MAX_SECONDS:
        raise ValueError(f"is too large for a duration (at most {_MAX_SECONDS:.0f} seconds, 100 years)")
    return seconds


def format_duration(seconds: float) -> str:
    """The inverse for display, and every duration or age the commands print: 5400 -> "1h30m",
    252.4 -> "4m12s", 0.5 -> "0.5s", 86400 -> "1d", 12.34 -> "12.3s".

    Under a minute one decimal is kept (config values such as 0.5 s read back exactly); from a minute on,
    whole seconds, since "4m12.37s" is noise in an age.
    """
    if round(seconds, 1) < 60:
        return f"{round(max(seconds, 0.0), 1):g}s"
    rest = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def plural(count: int, word: str, many: str | None = None) -> str:
    """ "1 folder", "2 folders": counts in every sentence the commands and the status line print."""
    return f"{count} {word if count == 1 else many or word + 's'}"
