"""The pydantic models behind `config.py`: one class per YAML block, with the per-field checks.

Loading, `defaults:` inheritance, key-path error messages and cross-folder checks live in `config.py`; this
module only says what one block may hold. Every model forbids unknown keys (typos must not pass silently) and
hides input values in pydantic's own error text (a password must never reach a log through an error).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from phonenumbers import SUPPORTED_REGIONS
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from faxdropd.durations import parse_duration

# ----------------------------------------------------------------------------------------------------
# Validation context: what a validator needs to know about the world (where the file is, the environment).


@dataclass
class Ctx:
    """Passed to pydantic as `context={"faxdropd": Ctx(...)}` by `parse_config`."""

    base_dir: Path
    env: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)


def ctx_of(info: ValidationInfo) -> Ctx:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("faxdropd"), Ctx):
        found: Ctx = context["faxdropd"]
        return found
    # Models built directly in code (tests, `faxdropd send`) resolve against the working directory.
    return Ctx(base_dir=Path.cwd(), env=os.environ)


KEY_PROBLEMS = "faxdropd_key_problems"


def key_problems(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """An error for one or more keys *below* the validator's location (pydantic alone cannot say which key).

    `config.py` expands `ctx["problems"]` into one line per (relative key, sentence).
    """
    summary = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
    return PydanticCustomError(KEY_PROBLEMS, "{summary}", {"summary": summary, "problems": tuple(problems)})


# ----------------------------------------------------------------------------------------------------
# Reusable field types. Before-validators do the checking so that each bad value gives exactly one sentence
# (pydantic's own union/literal messages are correct but not what an operator wants to read).


def _seconds(value: object) -> float:
    return parse_duration(value)


def _positive_seconds(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than 0 seconds")
    return seconds


Duration = Annotated[float, BeforeValidator(_seconds)]
PositiveDuration = Annotated[float, BeforeValidator(_positive_seconds)]
StrictInt = Annotated[int, Strict()]


def _text(value: object) -> str:
    if not isinstance(value, str):
        # YAML turns unquoted 0123, +4930… and yes/no into numbers and booleans: quoting is the fix.
        raise ValueError('must be text; put it in quotes ("…")')
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be a single line without control characters")
    return value


Text = Annotated[str, BeforeValidator(_text)]


def _choice(*options: str) -> Callable[[object], str]:
    """Case-insensitive choice with canonical output ("letter" -> "Letter")."""
    canonical = {o.lower(): o for o in options}
    sentence = "must be one of " + ", ".join(options)

    def check(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in canonical:
            return canonical[value.strip().lower()]
        raise ValueError(sentence)

    return check


def _one_or_many(value: object) -> object:
    # `to: "+1 212 555 0100"` and `to: [a, b]` both mean a list; a lone string is the common case.
    return [value] if isinstance(value, str) else value


def abs_path(value: object, info: ValidationInfo) -> Path:
    """Any path in the file: relative ones are relative to the config file's directory, not the cwd."""
    if isinstance(value, Path):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("must be a path (text such as /srv/fax/outbox)")
    if not text.strip():
        raise ValueError("must not be empty")
    if "\x00" in text:
        raise ValueError("must not contain a NUL character")
    if text.startswith("~"):
        raise ValueError("must not start with ~ (it is not expanded); write the full path")
    path = Path(text)
    if not path.is_absolute():
        path = ctx_of(info).base_dir / path
    # Lexical normalisation only: the folder may not exist yet, and symlinks are compared in config.py.
    return Path(os.path.normpath(path))


AbsPath = Annotated[Path, BeforeValidator(abs_path)]


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        # Unquoted +12125550100 is the integer 12125550100 to YAML, and 0161… is octal: the + or 0 is lost.
        raise ValueError(
            'must be a phone number in quotes ("+1 212 555 0100"); unquoted, YAML drops a leading + or 0'
        )
    if not re.fullmatch(r"[+0-9 ()./-]+", value) or not any(c.isdigit() for c in value):
        raise ValueError("must be a phone number: digits, an optional leading +, spaces, - . ( )")
    return value


def _number_glob(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\+[0-9*?\[\]!-]*", value):
        raise ValueError(
            'must be an E.164 pattern: "+" then digits and the wildcards * ? [ ], without spaces ("+1212*")'
        )
    return value


def _name_glob(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError('must be a file name pattern in quotes ("*.pdf")')
    if "/" in value or "\x00" in value:
        raise ValueError("matches file names, not paths: drop the directory part")
    return value


def _region(value: object) -> str:
    if isinstance(value, bool):
        # The Norway problem: YAML 1.1 reads an unquoted NO as false.
        raise ValueError('must be a region code in quotes ("NO"); YAML read this one as true/false')
    if isinstance(value, str) and value.strip().upper() in SUPPORTED_REGIONS:
        return value.strip().upper()
    raise ValueError("must be a two-letter region code that phonenumbers knows, such as US, GB, DE")


Number = Annotated[str, BeforeValidator(_number)]


def _numbers(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)  # raises the "put it in quotes" sentence at `to` itself
    return _one_or_many(value)


NumberGlob = Annotated[str, BeforeValidator(_number_glob)]
NameGlob = Annotated[str, BeforeValidator(_name_glob)]

SOURCES = ("sidecar", "filename", "folder")


# ----------------------------------------------------------------------------------------------------
# Send windows


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW_HINT = (
    'write it as "Mon-Fri 08:00-18:00", optionally with a time zone: "Mon,Wed 09:00-17:00 Europe/Berlin"'
)


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


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, validate_default=False)


class SendWindow(_Model):
    """When faxes may go out. `start > end` is a window over midnight ("22:00-06:00"): the day is the start's.

    Only the data: `policy.next_window_opening` decides whether a moment is inside it.

    `days`: 0=Mon..6=Sun; `end` may be `time.max` ("24:00"); `tz` is always a valid IANA name.
    """

    days: list[Annotated[int, Strict(), Field(ge=0, le=6)]] = Field(min_length=1)
    start: time
    end: time
    tz: Annotated[str, BeforeValidator(_text), AfterValidator(_check_zone)]

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


# ----------------------------------------------------------------------------------------------------
# Per-folder settings


def _subject(value: str) -> str:
    try:
        list(string.Formatter().parse(value))
    except ValueError:
        raise ValueError(
            "is not a valid template: write {name} for a field and {{ }} for literal braces"
        ) from None
    return value


class FaxOptions(_Model):
    csid: Annotated[Text, Field(max_length=20)] = ""
    page_header: Text = "N"
    subject: Annotated[Text, Field(max_length=60), AfterValidator(_subject)] = "{name}"
    contact: Text = ""
    reply_address: Text = ""
    page_size: Annotated[
        Literal["A4", "Letter", "Legal", "B4"], BeforeValidator(_choice("A4", "Letter", "Legal", "B4"))
    ] = "A4"
    orientation: Annotated[
        Literal["portrait", "landscape"], BeforeValidator(_choice("portrait", "landscape"))
    ] = "portrait"
    resolution: Annotated[Literal["standard", "fine"], BeforeValidator(_choice("standard", "fine"))] = (
        "standard"
    )
    rendering: Annotated[Literal["standard", "fine"], BeforeValidator(_choice("standard", "fine"))] = (
        "standard"
    )
    retries: Annotated[int, Strict(), Field(ge=0, le=10)] = 3
    cover_page: AbsPath | None = None
    send_window: SendWindow | None = None

    @field_validator("reply_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value and ("@" not in value or " " in value):
            raise ValueError("must be an e-mail address (or empty)")
        return value


DEFAULT_INCLUDE = ["*.pdf", "*.tif", "*.tiff", "*.txt", "*.doc", "*.docx", "*.html", "*.jpg", "*.png"]
DEFAULT_IGNORE = ["~$*", "*.tmp", "*.part", ".*", "Thumbs.db", "desktop.ini"]


def _sources(value: object) -> object:
    value = _one_or_many(value)
    if isinstance(value, list):
        lowered = [v.strip().lower() if isinstance(v, str) else v for v in value]
        if len(set(map(repr, lowered))) != len(lowered):
            raise ValueError("names a source twice")
        return lowered
    return value


class FolderSettings(_Model):
    """Everything a folder may inherit from `defaults:` (and override)."""

    to: Annotated[list[Number], BeforeValidator(_numbers)] = []
    to_from: Annotated[
        list[Annotated[Literal["sidecar", "filename", "folder"], BeforeValidator(_choice(*SOURCES))]],
        BeforeValidator(_sources),
        Field(min_length=1),
    ] = ["sidecar", "filename", "folder"]
    stable_seconds: Duration = 5.0
    watch: Annotated[
        Literal["auto", "events", "poll"], BeforeValidator(_choice("auto", "events", "poll"))
    ] = "auto"
    poll_interval: PositiveDuration = 2.0
    rescan_interval: PositiveDuration = 60.0
    include: Annotated[list[NameGlob], BeforeValidator(_one_or_many)] = Field(
        default_factory=lambda: list(DEFAULT_INCLUDE)
    )
    ignore: Annotated[list[NameGlob], BeforeValidator(_one_or_many)] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE)
    )
    region: Annotated[str, BeforeValidator(_region)] = "US"
    allow: Annotated[list[NumberGlob], BeforeValidator(_one_or_many)] = Field(default_factory=lambda: ["+*"])
    deny: Annotated[list[NumberGlob], BeforeValidator(_one_or_many)] = Field(
        default_factory=lambda: ["+1900*"]
    )
    faxes_per_hour: Annotated[int, Strict(), Field(ge=1)] | None = None
    fax: FaxOptions = Field(default_factory=FaxOptions)


FOLDER_ONLY_KEYS = ("path", "name", "sent", "failed")


def _default_under(subdir: str) -> Callable[[object, ValidationInfo], object]:
    def fill(value: object, info: ValidationInfo) -> object:
        # null or absent: <path>/<subdir>. Runs before the type check, so the result is validated like input.
        if value is None:
            path = info.data.get("path")
            # Without a valid path its error is already reported; a placeholder avoids a second one.
            return path / subdir if isinstance(path, Path) else "/"
        return value

    return fill


def _default_name(value: object, info: ValidationInfo) -> object:
    if value is None:
        path = info.data.get("path")
        return (path.name or str(path)) if isinstance(path, Path) else "?"
    return value


class FolderConfig(FolderSettings):
    """One hot folder, `defaults:` merged in. name/sent/failed are derived from `path` when absent."""

    path: AbsPath
    name: Annotated[Text, BeforeValidator(_default_name), Field(min_length=1, max_length=100)] = Field(
        default=None, validate_default=True
    )
    sent: Annotated[AbsPath, BeforeValidator(_default_under("sent"))] = Field(
        default=None, validate_default=True
    )
    failed: Annotated[AbsPath, BeforeValidator(_default_under("failed"))] = Field(
        default=None, validate_default=True
    )


# ----------------------------------------------------------------------------------------------------
# Global blocks


class LogConfig(_Model):
    format: Annotated[
        Literal["auto", "json", "console"], BeforeValidator(_choice("auto", "json", "console"))
    ] = "auto"
    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        BeforeValidator(_choice("debug", "info", "warning", "error")),
    ] = "info"


class MetricsConfig(_Model):
    listen: Text = "127.0.0.1:9464"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str, info: ValidationInfo) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError('must be "host:port", such as "127.0.0.1:9464" or "[::1]:9464"')
        if host.strip("[]") in ("0.0.0.0", "::", ""):
            ctx_of(info).warnings.append(
                "metrics.listen: metrics are served on every interface; prefer 127.0.0.1"
            )
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class DeliveryConfig(_Model):
    track: Annotated[bool, Strict()] = True
    poll_interval: PositiveDuration = 20.0
    # How long a submission whose outcome is unknown rests before it is looked up by reference: InterFAX
    # needs a moment to list a fax it has just accepted, and a premature "not found" would mean a resend.
    reconcile_grace: Duration = 60.0
    # InterFAX allows 6 status queries a minute; more is only useful against the emulator.
    query_limit_per_minute: Annotated[int, Strict(), Field(ge=1, le=600)] = 6


class RetryConfig(_Model):
    initial: PositiveDuration = 30.0
    factor: Annotated[float, Strict(), Field(ge=1, le=100, allow_inf_nan=False)] = 2.0
    cap: PositiveDuration = 3600.0
    lifetime: PositiveDuration = 86400.0

    @model_validator(mode="after")
    def _cap_covers_initial(self) -> RetryConfig:
        if self.cap < self.initial:
            raise key_problems([("cap", "must be at least retry.initial")])
        return self


class LimitsConfig(_Model):
    faxes_per_hour: Annotated[int, Strict(), Field(ge=1)] | None = 120
    pages_per_fax: Annotated[int, Strict(), Field(ge=1, le=10_000)] = 100
    duplicate_window: Duration = 86400.0


EMBEDDED = "embedded"
_PASSWORD_KEYS = ("password", "password_file", "password_env")
_MAX_PASSWORD_FILE = 64 * 1024


def _url(value: object) -> str:
    if isinstance(value, str) and value.strip().lower() == EMBEDDED:
        return EMBEDDED
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            return value.strip()
    raise ValueError('must be "embedded" or an http(s):// URL such as https://ws.interfax.net/dfs.asmx')


def _verify(value: object, info: ValidationInfo) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip():
        return str(abs_path(value.strip(), info))
    raise ValueError("must be true, false or the path of a CA bundle")


def _soap_version(value: object) -> str:
    # Unquoted 1.1 is a float to YAML; accept it rather than make operators quote a version number.
    text = f"{value:.1f}" if isinstance(value, float) else value
    if text in ("1.1", "1.2"):
        return str(text)
    raise ValueError('must be "1.1" or "1.2"')


def _env_name(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        return value
    raise ValueError("must be the name of an environment variable (letters, digits, _)")


class InterfaxConfig(_Model):
    """Where and as whom to send. Exactly one of password, password_file, password_env (none: embedded)."""

    url: Annotated[str, BeforeValidator(_url)] = "https://ws.interfax.net/dfs.asmx"
    username: Text = ""
    password: SecretStr = SecretStr("")
    password_file: Text | None = None
    password_env: Annotated[str, BeforeValidator(_env_name)] | None = None
    timeout: PositiveDuration = 60.0
    connect_timeout: PositiveDuration = 10.0
    chunk_size: Annotated[int, Strict(), Field(ge=1, le=3_000_000)] = 200_000
    inline_max_bytes: Annotated[int, Strict(), Field(ge=0, le=3_000_000)] = 262_144
    verify_tls: Annotated[bool | str, BeforeValidator(_verify)] = True
    soap_version: Annotated[Literal["1.1", "1.2"], BeforeValidator(_soap_version)] = "1.1"

    @property
    def embedded(self) -> bool:
        return self.url == EMBEDDED

    @model_validator(mode="after")
    def _credentials(self, info: ValidationInfo) -> InterfaxConfig:
        ctx = ctx_of(info)
        given = [k for k in _PASSWORD_KEYS if k in self.model_fields_set and getattr(self, k) is not None]
        problems: list[tuple[str, str]] = []
        if self.embedded and not self.username:
            self.username = "demo"
        if not self.username:
            problems.append(("username", "is required (the InterFAX user name)"))
        if len(given) > 1:
            problems.append(
                (given[1], f"give only one of {', '.join(_PASSWORD_KEYS)} (also found {given[0]})")
            )
        elif not given:
            if self.embedded:
                self.password = SecretStr("demo")
            else:
                problems.append(
                    (
                        "password_file",
                        "is required: give password_file (a systemd credential) or password_env",
                    )
                )
        elif given[0] == "password_file":
            secret = _read_password_file(self.password_file or "", ctx, problems)
            if secret is not None:
                self.password = SecretStr(secret)
        elif given[0] == "password_env":
            name = self.password_env or ""
            secret = ctx.env.get(name)
            if secret is None:
                problems.append(("password_env", f"the environment variable {name} is not set"))
            elif not secret.strip():
                problems.append(("password_env", f"the environment variable {name} is empty"))
            else:
                self.password = SecretStr(secret)
        elif not self.password.get_secret_value():
            problems.append(("password", "is empty"))
        else:
            ctx.warnings.append(
                "interfax.password: the password is written in the config file; "
                "prefer password_file (a systemd credential) or password_env"
            )
        if self.verify_tls is False:
            ctx.warnings.append("interfax.verify_tls: TLS certificates are not checked")
        host = urlsplit(self.url).hostname or ""
        if self.url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
            ctx.warnings.append("interfax.url: plain http sends the password unencrypted; use https")
        if problems:
            raise key_problems(problems)
        return self


def _read_password_file(spec: str, ctx: Ctx, problems: list[tuple[str, str]]) -> str | None:
    """The secret from a file (or `credential:NAME` in $CREDENTIALS_DIRECTORY); None after a problem."""
    key = "password_file"
    if spec.startswith("credential:"):
        name = spec.removeprefix("credential:")
        directory = ctx.env.get("CREDENTIALS_DIRECTORY")
        if not name or "/" in name or name in (".", ".."):
            problems.append((key, "credential:NAME needs a plain credential name"))
            return None
        if not directory:
            problems.append(
                (key, f"credential:{name} needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=)")
            )
            return None
        path = Path(directory) / name
    else:
        if not spec.strip() or "\x00" in spec:
            problems.append((key, "must be a file path or credential:NAME"))
            return None
        path = Path(spec) if Path(spec).is_absolute() else ctx.base_dir / spec
    try:
        # Opened without following a FIFO forever: only a regular file is read, and only its first 64 KiB.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        problems.append((key, f"the file {path} does not exist"))
        return None
    except OSError as exc:
        problems.append((key, f"cannot read {path}: {exc.strerror}"))
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            problems.append((key, f"{path} is not a regular file"))
            return None
        if info.st_mode & 0o004:
            ctx.warnings.append(f"interfax.password_file: {path} is world-readable; chmod o-r")
        raw = handle.read(_MAX_PASSWORD_FILE + 1)
    if len(raw) > _MAX_PASSWORD_FILE:
        problems.append((key, f"{path} is too large to hold a password"))
        return None
    try:
        secret = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        problems.append((key, f"{path} is not UTF-8 text"))
        return None
    if not secret.strip():
        problems.append((key, f"{path} is empty"))
        return None
    return secret


class Settings(_Model):
    """The global part of the file (everything but `defaults:` and `folders:`)."""

    interfax: InterfaxConfig
    state_dir: AbsPath = Path("/var/lib/faxdropd")
    workers: Annotated[int, Strict(), Field(ge=1, le=64)] = 4
    log: LogConfig = Field(default_factory=LogConfig)
    metrics: MetricsConfig | None = None
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)


class Config(Settings):
    """The whole configuration, as the daemon uses it. Build it with `load_config` / `parse_config`."""

    folders: list[FolderConfig] = Field(min_length=1)
    warnings: list[str] = []

    _by_dir: dict[str, FolderConfig] | None = PrivateAttr(default=None)

    def folder_for(self, path: Path) -> FolderConfig | None:
        """The hot folder `path` sits in (directly; files in sent/ or failed/ belong to none), else None."""
        if self._by_dir is None:
            # Built once: with hundreds of folders every lookup stays a dict hit. realpath so symlinked
            # spellings of the same directory agree.
            self._by_dir = {os.path.realpath(f.path): f for f in self.folders}
        parent = os.path.realpath(Path(path).parent)
        return self._by_dir.get(parent)
