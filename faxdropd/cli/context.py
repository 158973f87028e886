"""What every command starts from: the config path, the loaded config (or a printed error), the embedded emulator."""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from faxdropd.errors import ConfigError

if TYPE_CHECKING:
    from faxdropd.config import Config
    from faxdropd.config.place import JournalPlace

DEFAULT_CONFIG = Path("/etc/faxdropd/faxdropd.yaml")


def config_path(args: argparse.Namespace) -> Path:
    if args.config:
        return Path(args.config)
    env = os.environ.get("FAXDROPD_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def load_or_report(path: Path, *, need_password: bool = True) -> Config | None:
    """The config, or None after printing why not. Only commands that call InterFAX (run, send, cancel of a
    submitted fax) need the password; the others must work where the password file is absent."""
    # Deferred: the config package loads pydantic (~100 ms); `--version`, `--help` and `man` never need it.
    from faxdropd.config import load_config

    try:
        return load_config(path, need_password=need_password)
    except ConfigError as exc:
        print(f"faxdropd: configuration error in {path}:\n{exc}", file=sys.stderr)
        return None


def place_or_report(path: Path) -> JournalPlace | None:
    """The journal's place alone (`show`), or None after printing why not: the rest of the file is not
    validated, so the models are never built (config/place.py)."""
    from faxdropd.config.place import journal_place

    try:
        return journal_place(path)
    except ConfigError as exc:
        print(f"faxdropd: configuration error in {path}:\n{exc}", file=sys.stderr)
        return None


def start_embedded(cfg: Config, stack: ExitStack, store: Path | None = None, status_delay: float = 3.0) -> None:
    """`url: embedded`: start the built-in emulator on loopback and point the client at it."""
    if cfg.interfax.url != "embedded":
        return
    from faxdropd.emulator.server import EmulatorServer

    server = EmulatorServer(
        username=cfg.interfax.username,
        password=cfg.interfax.password.get_secret_value(),
        store=store,
        status_delay=status_delay,
    ).start()
    stack.callback(server.stop)
    cfg.interfax.url = server.url
