"""The `notify:` block: who hears of an outcome, by e-mail and webhook, and how the mail goes out.

The global block holds the channels (smtp, the webhook secret) and the default recipients; a folder's
`notify:` replaces the keys it names. Secrets (the SMTP password, the webhook secret) end up in `SecretStr`s
read from a file or the environment, as for `interfax:`, and no error sentence ever quotes them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, Strict, ValidationInfo, model_validator

from faxdropd.config.context import read_password_file
from faxdropd.config.fields import (
    Duration,
    PositiveDuration,
    StrictModel,
    Text,
    choice,
    ctx_of,
    key_problems,
    one_or_many,
)
from faxdropd.config.interfax import TOO_SHORT, _env_name, _verify
from faxdropd.limits import MIN_SECRET_LENGTH

# Job outcomes (a receipt's `outcome`) and account/folder events.
EVENTS = ("delivered", "accepted", "failed", "rejected", "paused", "resumed", "folder_down", "folder_up")
ATTACH = ("none", "receipt", "document")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def address(value: object) -> str:
    if isinstance(value, str) and _ADDRESS.fullmatch(value.strip()):
        return value.strip()
    raise ValueError("must be an e-mail address such as frontdesk@example.org")


def _url(value: object) -> str:
    if isinstance(value, str):
        parts = urlsplit(value.strip())
        if parts.scheme in ("http", "https") and parts.hostname:
            return value.strip()
    raise ValueError("must be an http(s):// URL such as https://hooks.example.org/fax")


def _domain(value: object) -> str:
    if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+", value.strip()):
        return value.strip().lower()
    raise ValueError("must be a mail domain such as example.org")


Address = Annotated[str, BeforeValidator(address)]
Event = Annotated[str, BeforeValidator(choice(*EVENTS))]
Attach = Annotated[Literal["none", "receipt", "document"], BeforeValidator(choice(*ATTACH))]
Addresses = Annotated[list[Address], BeforeValidator(one_or_many)]
Urls = Annotated[list[Annotated[str, BeforeValidator(_url)]], BeforeValidator(one_or_many)]
Events = Annotated[list[Event], BeforeValidator(one_or_many)]


def _on_key(data: object) -> object:
    # YAML 1.1 reads an unquoted `on:` key as the boolean true; the (and the README's) `on:` means "on".
    if isinstance(data, dict) and True in data:
        return {("on" if key is True else key): value for key, value in data.items()}
    return data


class SmtpConfig(StrictModel):
    host: Text
    port: Annotated[int, Strict(), Field(ge=1, le=65535)] | None = None
    security: Annotated[Literal["none", "starttls", "tls"], BeforeValidator(choice("none", "starttls", "tls"))] = (
        "starttls"
    )
    username: Text = ""
    password_file: Text | None = None
    password_env: Annotated[str, BeforeValidator(_env_name)] | None = None
    password: SecretStr = Field(default=SecretStr(""), exclude=True)
    from_: Annotated[Text, Field(alias="from")] = ""
    verify_tls: Annotated[bool | str, BeforeValidator(_verify)] = True
    timeout: PositiveDuration = 30.0

    @property
    def effective_port(self) -> int:
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.security]

    @model_validator(mode="before")
    @classmethod
    def _no_inline_password(cls, data: object) -> object:
        if isinstance(data, dict) and "password" in data:
            raise key_problems([("password", "is not read from the file: give password_file or password_env")])
        return data

    @model_validator(mode="after")
    def _secret(self, info: ValidationInfo) -> SmtpConfig:
        ctx = ctx_of(info)
        problems: list[tuple[str, str]] = []
        if not self.from_ or "@" not in self.from_:
            problems.append(("from", 'is required: the sender, such as "Fax <fax@example.org>"'))
        if self.password_file is not None and self.password_env is not None:
            problems.append(("password_env", "give only one of password_file, password_env"))
        elif self.password_file is not None:
            secret = read_password_file(self.password_file, ctx, problems, label="notify.smtp")
            if secret is not None:
                self.password = SecretStr(secret)
        elif self.password_env is not None:
            secret = ctx.env.get(self.password_env)
            if not secret:
                problems.append(("password_env", f"the environment variable {self.password_env} is not set"))
            else:
                self.password = SecretStr(secret)
        password = self.password.get_secret_value()
        if password and len(password) < MIN_SECRET_LENGTH:
            problems.append(("password_file" if self.password_file is not None else "password_env", TOO_SHORT))
        if password and not self.username:
            problems.append(("username", "is required with a password"))
        if self.verify_tls is False:
            ctx.warnings.append("notify.smtp.verify_tls: TLS certificates are not checked")
        if self.security == "none" and self.username:
            ctx.warnings.append("notify.smtp.security: none sends the SMTP password unencrypted")
        if problems:
            raise key_problems(problems)
        return self


class FolderNotify(StrictModel):
    """A folder's `notify:`: every key it names replaces the global block's."""

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: object) -> object:
        return _on_key(data)

    on: Events | None = None
    email: Addresses | None = None
    webhooks: Urls | None = None
    attach: Attach | None = None
    digest: Duration | None = None


class NotifyConfig(StrictModel):
    smtp: SmtpConfig | None = None
    webhook_secret_file: Text | None = None
    webhook_secret: SecretStr = Field(default=SecretStr(""), exclude=True)
    on: Events = ["failed", "rejected"]
    email: Addresses = []
    webhooks: Urls = []
    attach: Attach = "receipt"
    allow_domains: Annotated[list[Annotated[str, BeforeValidator(_domain)]], BeforeValidator(one_or_many)] = []
    digest: Duration = 0.0
    retry_for: PositiveDuration = 2 * 86400.0
    retry_initial: PositiveDuration = 30.0
    retry_cap: PositiveDuration = 3600.0

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: object) -> object:
        data = _on_key(data)
        if isinstance(data, dict) and "webhook_secret" in data:
            raise key_problems([("webhook_secret", "is not read from the file: give webhook_secret_file")])
        return data

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> NotifyConfig:
        problems: list[tuple[str, str]] = []
        if self.webhook_secret_file is not None:
            secret = read_password_file(
                self.webhook_secret_file, ctx_of(info), problems, key="webhook_secret_file", label="notify"
            )
            if secret is not None and len(secret) < MIN_SECRET_LENGTH:
                problems.append(("webhook_secret_file", TOO_SHORT))
            elif secret is not None:
                self.webhook_secret = SecretStr(secret)
        if self.email and self.smtp is None:
            problems.append(("email", "needs notify.smtp: to send mail"))
        if problems:
            raise key_problems(problems)
        return self


@dataclass(frozen=True)
class Effective:
    """What applies to one folder: its own `notify:` keys over the global block's."""

    on: tuple[str, ...]
    email: tuple[str, ...]
    webhooks: tuple[str, ...]
    attach: str
    digest: float


def effective(base: NotifyConfig, folder: FolderNotify | None) -> Effective:
    own = folder if folder is not None else FolderNotify()
    return Effective(
        on=tuple(own.on if own.on is not None else base.on),
        email=tuple(own.email if own.email is not None else base.email),
        webhooks=tuple(own.webhooks if own.webhooks is not None else base.webhooks),
        attach=own.attach if own.attach is not None else base.attach,
        digest=own.digest if own.digest is not None else base.digest,
    )


class _FolderWithNotify(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def notify(self) -> FolderNotify | None: ...


class NotifyConfigHolder(Protocol):
    """The parts of Config the summary reads (Config itself imports this module)."""

    @property
    def notify(self) -> NotifyConfig: ...
    @property
    def folders(self) -> Sequence[_FolderWithNotify]: ...


def allowed(recipient: str, domains: list[str]) -> bool:
    """A sidecar recipient is allowed when its domain is one of `domains` (or a subdomain of one)."""
    domain = recipient.rpartition("@")[2].lower()
    return any(domain == d or domain.endswith("." + d) for d in domains)


def folder_problems(base: NotifyConfig, prefix: str, folder: FolderNotify | None) -> list[tuple[str, str]]:
    if folder is not None and folder.email and base.smtp is None:
        return [(f"{prefix}.notify.email", "needs notify.smtp: to send mail")]
    return []


def summary(cfg: NotifyConfigHolder) -> str:
    """check-config's lines about notifications: channels and, per folder, who hears of what."""
    base = cfg.notify
    if base.smtp is None and not base.webhooks and not any(f.notify for f in cfg.folders):
        return "notifications: none (no notify: block)"
    smtp = base.smtp
    lines = ["notifications:"]
    if smtp is not None:
        verify = "not verified" if smtp.verify_tls is False else "verified"
        lines.append(f"  mail via {smtp.host}:{smtp.effective_port} ({smtp.security}, TLS {verify}) from {smtp.from_}")
    lines.append(f"  webhooks {'signed' if base.webhook_secret.get_secret_value() else 'unsigned'}")
    for folder in cfg.folders:
        rules = effective(base, folder.notify)
        who = [*rules.email, *rules.webhooks] or ["nobody"]
        digest = f", digest every {int(rules.digest)} s" if rules.digest else ""
        lines.append(f"  {folder.name}: {', '.join(rules.on)} -> {', '.join(who)} (attach {rules.attach}{digest})")
    return "\n".join(lines)
