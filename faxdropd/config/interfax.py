"""The `interfax:` block: where and as whom to send, and where the password comes from.

The password may be inline, in a file (or a systemd credential) or in an environment variable; whichever it
is, it ends up in a `SecretStr`, and no error sentence ever quotes it.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, SecretStr, Strict, ValidationInfo, model_validator

from faxdropd.config.context import read_password_file
from faxdropd.config.fields import PositiveDuration, StrictModel, Text, abs_path, ctx_of, key_problems
from faxdropd.limits import MIN_SECRET_LENGTH

EMBEDDED = "embedded"
_PASSWORD_KEYS = ("password", "password_file", "password_env")
TOO_SHORT = f"is too short to be kept out of logs safely: use at least {MIN_SECRET_LENGTH} characters"


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


# Defaults of interfax.chunk_size and interfax.inline_max_bytes, also upload.UploadLimits' own.
CHUNK_SIZE = 200_000
INLINE_MAX_BYTES = 262_144


class InterfaxConfig(StrictModel):
    """Where and as whom to send. Exactly one of password, password_file, password_env (none: embedded)."""

    url: Annotated[str, BeforeValidator(_url)] = "https://ws.interfax.net/dfs.asmx"
    username: Text = ""
    password: SecretStr = SecretStr("")
    password_file: Text | None = None
    password_env: Annotated[str, BeforeValidator(_env_name)] | None = None
    timeout: PositiveDuration = 60.0
    connect_timeout: PositiveDuration = 10.0
    chunk_size: Annotated[int, Strict(), Field(ge=1, le=3_000_000)] = CHUNK_SIZE
    inline_max_bytes: Annotated[int, Strict(), Field(ge=0, le=3_000_000)] = INLINE_MAX_BYTES
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
            problems.append((given[1], f"give only one of {', '.join(_PASSWORD_KEYS)} (also found {given[0]})"))
        elif not given:
            if self.embedded:
                # Long and random: a short password would be masked out of every log line that contains it.
                self.password = SecretStr(secrets.token_urlsafe(16))
            else:
                problems.append(
                    (
                        "password_file",
                        "is required: give password_file (a systemd credential) or password_env",
                    )
                )
        elif not ctx.need_password and given[0] != "password":
            pass  # the source is named and well-formed; reading it is left to the commands that send
        elif given[0] == "password_file":
            secret = read_password_file(self.password_file or "", ctx, problems)
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
        secret = self.password.get_secret_value()
        if given and secret and len(secret) < MIN_SECRET_LENGTH:  # the embedded default is long and random
            problems.append((given[0], TOO_SHORT))
        if self.verify_tls is False:
            ctx.warnings.append("interfax.verify_tls: TLS certificates are not checked")
        host = urlsplit(self.url).hostname or ""
        if self.url.startswith("http://") and host not in ("localhost", "127.0.0.1", "::1"):
            ctx.warnings.append("interfax.url: plain http sends the password unencrypted; use https")
        if problems:
            raise key_problems(problems)
        return self
