"""The `web:` block: the front-desk page served inside the daemon (faxdropd/web/). Absent means off.

`auth: none` is refused unless the page listens on loopback only: job lists carry names and numbers of
medical and legal faxes, and an open page on the office network would publish them to every machine on it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BeforeValidator, Strict, field_validator, model_validator

from faxdropd.config.fields import AbsPath, StrictModel, Text, choice, key_problems

__all__ = ["WebConfig", "is_loopback"]

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`; a name or wildcard (0.0.0.0, ::) is not loopback."""
    host = host.strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _header(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or not all(c.isalnum() or c == "-" for c in value.strip()):
        raise ValueError("must be an HTTP header name such as X-Remote-User")
    return value.strip()


class WebConfig(StrictModel):
    listen: Text = "127.0.0.1:8025"
    auth: Annotated[Literal["none", "basic"], BeforeValidator(choice("none", "basic"))] = "none"
    users_file: AbsPath | None = None
    trusted_proxy_header: Annotated[str | None, BeforeValidator(_header)] = None
    actions: Annotated[bool, Strict()] = True
    # Off by default: the documents are faxes of medical and legal records.
    documents: Annotated[bool, Strict()] = False

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError('must be "host:port", such as "127.0.0.1:8025" or "[::1]:8025"')
        return value

    @model_validator(mode="after")
    def _auth_fits_listener(self) -> WebConfig:
        problems: list[tuple[str, str]] = []
        if self.auth == "none" and self.trusted_proxy_header is None and not is_loopback(self.host):
            problems.append(
                ("auth", f"none is refused on {self.listen}: listen on 127.0.0.1, or use auth: basic with users_file")
            )
        if self.auth == "basic" and self.users_file is None:
            problems.append(("users_file", "is required with auth: basic (write it with `faxdropd web-user NAME`)"))
        if problems:
            raise key_problems(problems)
        return self

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
