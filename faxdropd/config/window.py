"""Send windows: "Mon-Fri 08:00-18:00 Europe/Berlin" parsed into a `SendWindow`, and described back."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Protocol
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, Strict, ValidationInfo, model_validator

from faxdropd.config.fields import StrictModel, Text, ctx_of

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_HINT = 'write it as "Mon-Fri 08:00-18:00", optionally with a time zone: "Mon,Wed 09:00-17:00 Europe/Berlin"'


def _day(token: str) -> int:
    word = token.lower()
    for table in (_DAYS, _FULL_DAYS):
        if word in table:
            return table.index(word)
    raise ValueError(f"names something that is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun); {_WINDOW_HINT}")


def _days(spec: str) -> list[int]:
    days: set[int] = set()
    for item in spec.split(","):
        if "-" in item:
            first, _, last = item.partition("-")
            a, b = _day(first), _day(last)
            # "Fri-Mon" wraps over the weekend.
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_day(item))
    return sorted(days)


def _clock(token: str, *, end: bool) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", token)
    if not match:
        raise ValueError(f"has a time that is not HH:MM; {_WINDOW_HINT}")
    hour, minute = int(match.group(1)), int(match.group(2))
    if end and (hour, minute) == (24, 0):
        return time.max  # "until midnight"
    if hour > 23 or minute > 59:
        raise ValueError("has a time of day outside 00:00 to 23:59")
    return time(hour, minute)


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError, IsADirectoryError… all mean "not a zone"
        # Not quoted: whatever was written here could be a misplaced secret.
        raise ValueError("names a time zone this system does not know (such as Europe/Berlin, UTC)") from None
    return name


def local_zone_name(env: Mapping[str, str]) -> str:
    """The host's IANA zone name, so a window without a zone means the operator's wall clock, not UTC."""
    candidates = [env.get("TZ", "").lstrip(":")]
    with contextlib.suppress(OSError):
        target = str(Path("/etc/localtime").readlink())
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    for name in candidates:
        if name and not name.startswith("/"):
            try:
                return _check_zone(name)
            except ValueError:
                continue
    return "UTC"


def parse_send_window(text: str, env: Mapping[str, str]) -> dict[str, Any]:
    """ "Mon-Fri 08:00-18:00 Europe/Berlin" -> {days, start, end, tz}; without days it means every day."""
    # "Mon - Fri  08:00 - 18:00" is the same window: glue ranges and lists before splitting on blanks.
    tokens = re.sub(r"\s*([-,])\s*", r"\1", text.strip()).split()
    if not tokens:
        raise ValueError(f"must not be empty; {_WINDOW_HINT} (or null for always)")
    days = list(range(7))
    if ":" not in tokens[0]:
        days = _days(tokens[0])
        tokens = tokens[1:]
    if not tokens or tokens[0].count("-") != 1:
        raise ValueError(f"needs a time range such as 08:00-18:00; {_WINDOW_HINT}")
    first, _, last = tokens[0].partition("-")
    start, end = _clock(first, end=False), _clock(last, end=True)
    if start == end:
        raise ValueError("has the same start and end time; use null for always")
    if len(tokens) > 2:
        raise ValueError(f"has extra words after the time zone; {_WINDOW_HINT}")
    tz = _check_zone(tokens[1]) if len(tokens) == 2 else local_zone_name(env)
    return {"days": days, "start": start, "end": end, "tz": tz}


class SendWindow(StrictModel):
    """When faxes may go out. `start > end` is a window over midnight ("22:00-06:00"): the day is the start's.

    `next_window_opening` below decides whether a moment is inside it.

    `days`: 0=Mon..6=Sun; `end` may be `time.max` ("24:00"); `tz` is always a valid IANA name.
    """

    days: list[Annotated[int, Strict(), Field(ge=0, le=6)]] = Field(min_length=1)
    start: time
    end: time
    tz: Annotated[Text, AfterValidator(_check_zone)]

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, data: object, info: ValidationInfo) -> object:
        if isinstance(data, str):
            return parse_send_window(data, ctx_of(info).env)
        if isinstance(data, Mapping | SendWindow):
            return data
        raise ValueError(f"must be a window such as Mon-Fri 08:00-18:00 (or null for always); {_WINDOW_HINT}")

    def zone(self) -> tzinfo:
        return ZoneInfo(self.tz)

    def describe(self) -> str:
        runs: list[list[int]] = []
        for day in self.days:
            if runs and runs[-1][-1] == day - 1:
                runs[-1].append(day)
            else:
                runs.append([day])
        # Mon,Tue,Wed,Thu,Fri reads better as Mon-Fri; a pair stays a list (Sat,Sun).
        names = ",".join(
            f"{_DAYS[r[0]].capitalize()}-{_DAYS[r[-1]].capitalize()}"
            if len(r) > 2
            else ",".join(_DAYS[d].capitalize() for d in r)
            for r in runs
        )
        end = "24:00" if self.end == time.max else self.end.strftime("%H:%M")
        return f"{names} {self.start.strftime('%H:%M')}-{end} {self.tz}"


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
