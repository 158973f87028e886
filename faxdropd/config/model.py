"""The pydantic models behind `config.py`: one class per YAML block, with the per-field checks.

Loading, `defaults:` inheritance, key-path error messages and cross-folder checks live in `config.py`; this
module only says what one block may hold. The field types are in `config_fields.py`, the send window in
`config_window.py` and the `interfax:` block in `config_interfax.py` (both re-exported here). Every model
forbids unknown keys (typos must not pass silently) and hides input values in pydantic's own error text (a
password must never reach a log through an error).
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)

from faxdropd.config.context import DEFAULT_STATE_DIR
from faxdropd.config.fields import (
    CSID_MAX,
    SOURCES,
    AbsPath,
    Duration,
    NameGlob,
    NumberGlob,
    Numbers,
    PositiveDuration,
    Region,
    StrictModel,
    Text,
    choice,
    ctx_of,
    key_problems,
    one_or_many,
)
from faxdropd.config.interfax import InterfaxConfig
from faxdropd.config.journal import DEFAULT_LEASE, journal_keys, journal_url
from faxdropd.config.notify import FolderNotify, NotifyConfig
from faxdropd.config.retention import FolderRetention, RetentionConfig
from faxdropd.config.web import WebConfig
from faxdropd.config.window import SendWindow

__all__ = [
    "DEFAULT_IGNORE",
    "DEFAULT_INCLUDE",
    "FOLDER_ONLY_KEYS",
    "Config",
    "DeliveryConfig",
    "FaxOptions",
    "FolderConfig",
    "FolderSettings",
    "InterfaxConfig",
    "LimitsConfig",
    "LogConfig",
    "MetricsConfig",
    "RetentionConfig",
    "RetryConfig",
    "SendWindow",
    "Settings",
    "WebConfig",
]

# ----------------------------------------------------------------------------------------------------
# Per-folder settings


def _subject(value: str) -> str:
    try:
        list(string.Formatter().parse(value))
    except ValueError:
        raise ValueError("is not a valid template: write {name} for a field and {{ }} for literal braces") from None
    return value


class FaxOptions(StrictModel):
    csid: Annotated[Text, Field(max_length=CSID_MAX)] = ""
    page_header: Text = "N"
    subject: Annotated[Text, Field(max_length=60), AfterValidator(_subject)] = "{name}"
    contact: Text = ""
    reply_address: Text = ""
    page_size: Annotated[
        Literal["A4", "Letter", "Legal", "B4"], BeforeValidator(choice("A4", "Letter", "Legal", "B4"))
    ] = "A4"
    orientation: Annotated[Literal["portrait", "landscape"], BeforeValidator(choice("portrait", "landscape"))] = (
        "portrait"
    )
    resolution: Annotated[Literal["standard", "fine"], BeforeValidator(choice("standard", "fine"))] = "standard"
    rendering: Annotated[Literal["standard", "fine"], BeforeValidator(choice("standard", "fine"))] = "standard"
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
    value = one_or_many(value)
    if isinstance(value, list):
        lowered = [v.strip().lower() if isinstance(v, str) else v for v in value]
        if len(set(map(repr, lowered))) != len(lowered):
            raise ValueError("names a source twice")
        return lowered
    return value


class FolderSettings(StrictModel):
    """Everything a folder may inherit from `defaults:` (and override)."""

    to: Numbers = []
    to_from: Annotated[
        list[Annotated[Literal["sidecar", "filename", "folder"], BeforeValidator(choice(*SOURCES))]],
        BeforeValidator(_sources),
        Field(min_length=1),
    ] = ["sidecar", "filename", "folder"]
    stable_seconds: Duration = 5.0
    # How long content that looks cut off (or an empty placeholder) may wait to be completed before pre-flight
    # judges it anyway (watch/stability.py, document/completeness.py).
    incomplete_grace: Duration = 300.0
    watch: Annotated[Literal["auto", "events", "poll"], BeforeValidator(choice("auto", "events", "poll"))] = "auto"
    poll_interval: PositiveDuration = 2.0
    rescan_interval: PositiveDuration = 60.0
    include: Annotated[list[NameGlob], BeforeValidator(one_or_many)] = Field(
        default_factory=lambda: list(DEFAULT_INCLUDE)
    )
    ignore: Annotated[list[NameGlob], BeforeValidator(one_or_many)] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE)
    )
    region: Region = "US"
    allow: Annotated[list[NumberGlob], BeforeValidator(one_or_many)] = Field(default_factory=lambda: ["+*"])
    deny: Annotated[list[NumberGlob], BeforeValidator(one_or_many)] = Field(default_factory=lambda: ["+1900*"])
    faxes_per_hour: Annotated[int, Strict(), Field(ge=1)] | None = None
    fax: FaxOptions = Field(default_factory=FaxOptions)
    retention: FolderRetention = Field(default_factory=FolderRetention)
    notify: FolderNotify | None = None  # replaces the keys it names of the global notify: block


FOLDER_ONLY_KEYS = ("path", "name", "sent", "failed")


# A folder's sent/ and failed/ unless the config names other directories.
SENT_DIR = "sent"
FAILED_DIR = "failed"


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
    sent: Annotated[AbsPath, BeforeValidator(_default_under(SENT_DIR))] = Field(default=None, validate_default=True)
    failed: Annotated[AbsPath, BeforeValidator(_default_under(FAILED_DIR))] = Field(default=None, validate_default=True)


# ----------------------------------------------------------------------------------------------------
# Global blocks


class LogConfig(StrictModel):
    format: Annotated[Literal["auto", "json", "console"], BeforeValidator(choice("auto", "json", "console"))] = "auto"
    level: Annotated[
        Literal["debug", "info", "warning", "error"],
        BeforeValidator(choice("debug", "info", "warning", "error")),
    ] = "info"
    # Third-party loggers (watchdog, urllib3, zeep, waitress, asyncio…): warning unless debugging them.
    libraries: Annotated[Literal["warning", "info", "debug"], BeforeValidator(choice("warning", "info", "debug"))] = (
        "warning"
    )


class MetricsConfig(StrictModel):
    listen: Text = "127.0.0.1:9464"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str, info: ValidationInfo) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError('must be "host:port", such as "127.0.0.1:9464" or "[::1]:9464"')
        if host.strip("[]") in ("0.0.0.0", "::", ""):
            ctx_of(info).warnings.append("metrics.listen: metrics are served on every interface; prefer 127.0.0.1")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


# A directory name on every share (SMB included): no separators, no leading dot (hidden) or dash (an option).
INSTANCE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}")


def _instance_name(value: object) -> str:
    if not isinstance(value, str) or not INSTANCE_RE.fullmatch(value):
        raise ValueError("must be 1-64 characters of letters, digits, '.', '_' or '-', not starting with '.' or '-'")
    return value


InstanceName = Annotated[str, BeforeValidator(_instance_name)]
JournalUrl = Annotated[str, BeforeValidator(journal_url)]


class DeliveryConfig(StrictModel):
    track: Annotated[bool, Strict()] = True
    poll_interval: PositiveDuration = 20.0
    # How long a submission whose outcome is unknown rests before it is looked up by reference: InterFAX
    # needs a moment to list a fax it has just accepted, and a premature "not found" would mean a resend.
    reconcile_grace: Duration = 60.0
    # InterFAX allows 6 status queries a minute; more is only useful against the emulator.
    query_limit_per_minute: Annotated[int, Strict(), Field(ge=1, le=600)] = 6
    # Hosts sharing one InterFAX account: the limit is per account, so each host takes its share of it.
    peers: Annotated[int, Strict(), Field(ge=1, le=100)] = 1


class RetryConfig(StrictModel):
    initial: PositiveDuration = 30.0
    factor: Annotated[float, Strict(), Field(ge=1, le=100, allow_inf_nan=False)] = 2.0
    cap: PositiveDuration = 3600.0
    lifetime: PositiveDuration = 86400.0

    @model_validator(mode="after")
    def _cap_covers_initial(self) -> RetryConfig:
        if self.cap < self.initial:
            raise key_problems([("cap", "must be at least retry.initial")])
        return self


PAGES_PER_FAX = 100  # the default of limits.pages_per_fax, and pre-flight's when no limit is given


class LimitsConfig(StrictModel):
    faxes_per_hour: Annotated[int, Strict(), Field(ge=1)] | None = 120
    pages_per_fax: Annotated[int, Strict(), Field(ge=1, le=10_000)] = PAGES_PER_FAX
    duplicate_window: Duration = 86400.0


class Settings(StrictModel):
    """The global part of the file (everything but `defaults:` and `folders:`)."""

    interfax: InterfaxConfig
    state_dir: AbsPath = DEFAULT_STATE_DIR
    # This host's name for its work areas `<hot>/.faxdropd/<instance>/`; None: `<hostname>-<hash of state_dir>`.
    instance: InstanceName | None = None
    # A peer whose heartbeat is older than this may be adopted without --force.
    peer_timeout: PositiveDuration = 600.0
    workers: Annotated[int, Strict(), Field(ge=1, le=64)] = 4
    # Every thread on one CPU at a time, taking turns (daemon/onecpu.py): GIL hand-offs stay on that CPU.
    one_cpu: Annotated[bool, Strict()] = True
    log: LogConfig = Field(default_factory=LogConfig)
    metrics: MetricsConfig | None = None
    web: WebConfig | None = None  # the front-desk page (faxdropd/web/); off when absent
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    # The journal's database (config/journal.py): None is SQLite in state_dir.
    journal: JournalUrl | None = None
    journal_password_file: Text | None = None
    journal_lease: PositiveDuration = DEFAULT_LEASE

    _journal_password: SecretStr | None = PrivateAttr(default=None)

    @property
    def journal_password(self) -> str | None:
        """The PostgreSQL password read from journal_password_file; None: libpq finds its own (or none)."""
        return self._journal_password.get_secret_value() if self._journal_password else None

    @model_validator(mode="after")
    def _journal_keys(self, info: ValidationInfo) -> Settings:
        problems, secret = journal_keys(self.journal, self.journal_password_file, self.journal_lease, ctx_of(info))
        if problems:
            raise key_problems(problems)
        self._journal_password = SecretStr(secret) if secret is not None else None
        return self

    notify: NotifyConfig = Field(default_factory=NotifyConfig)


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

    def retention_for(self, folder: FolderSettings) -> RetentionConfig:
        """`retention:` with the folder's own overrides (from `defaults:` or the folder) applied."""
        return self.retention.for_folder(folder.retention)
