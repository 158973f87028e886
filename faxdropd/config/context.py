"""The config checks that need no pydantic: the validation context, paths, text, password files.

The models (`fields.py`, `model.py`, …) call these through their validators, and `place.py` calls them
directly to find the journal without building the models, so a key means the same whoever reads it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STATE_DIR = Path("/var/lib/faxdropd")
_MAX_PASSWORD_FILE = 64 * 1024


@dataclass
class Ctx:
    """Passed to pydantic as `context={"faxdropd": Ctx(...)}` by `parse_config`."""

    base_dir: Path
    env: Mapping[str, str]
    warnings: list[str] = field(default_factory=list)
    # False for the operator's commands (queue, status, hold, …): they never talk to InterFAX, so a password
    # file that only exists inside the running service (a systemd credential) must not stop them.
    need_password: bool = True


def resolve_path(value: object, base_dir: Path) -> Path:
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
        path = base_dir / path
    # Lexical normalisation only: the folder may not exist yet, and symlinks are compared in config.py.
    return Path(os.path.normpath(path))


def single_line(value: object) -> str:
    if not isinstance(value, str):
        # YAML turns unquoted 0123, +4930… and yes/no into numbers and booleans: quoting is the fix.
        raise ValueError('must be text; put it in quotes ("…")')
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must be a single line without control characters")
    return value


def read_password_file(
    spec: str, ctx: Ctx, problems: list[tuple[str, str]], *, key: str = "password_file", label: str = "interfax"
) -> str | None:
    """The secret from a file (or `credential:NAME` in $CREDENTIALS_DIRECTORY); None after a problem."""
    if spec.startswith("credential:"):
        name = spec.removeprefix("credential:")
        directory = ctx.env.get("CREDENTIALS_DIRECTORY")
        if not name or "/" in name or name in (".", ".."):
            problems.append((key, "credential:NAME needs a plain credential name"))
            return None
        if not directory:
            problems.append((key, f"credential:{name} needs $CREDENTIALS_DIRECTORY (set by systemd LoadCredential=)"))
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
            ctx.warnings.append(f"{label + '.' if label else ''}{key}: {path} is world-readable; chmod o-r")
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
