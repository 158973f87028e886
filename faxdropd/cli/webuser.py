"""`faxdropd web-user NAME`: add or replace NAME's line in the page's users file (web.users_file).

The password is read from a prompt on a terminal (asked twice), else one line from stdin, so it never
appears in the process list or the shell history.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from faxdropd.cli.context import load_or_report
from faxdropd.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK, EXIT_USAGE
from faxdropd.web.auth import valid_name, write_user

MIN_LENGTH = 8


def _password() -> str | None:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            print("faxdropd web-user: the passwords differ", file=sys.stderr)
            return None
        return first
    return sys.stdin.readline().rstrip("\r\n")


def web_user(args: argparse.Namespace, path: Path) -> int:
    cfg = load_or_report(path)
    if cfg is None:
        return EXIT_CONFIG
    users_file = args.file or (cfg.web.users_file if cfg.web else None)
    if users_file is None:
        print("faxdropd web-user: set web.users_file in the config (or give --file)", file=sys.stderr)
        return EXIT_USAGE
    if not valid_name(args.name):
        print("faxdropd web-user: a name must be printable, without ':' or spaces around it", file=sys.stderr)
        return EXIT_USAGE
    password = _password()
    if password is None:
        return EXIT_FAIL
    if len(password) < MIN_LENGTH:
        print(f"faxdropd web-user: a password needs at least {MIN_LENGTH} characters", file=sys.stderr)
        return EXIT_USAGE
    try:
        new = write_user(Path(users_file), args.name, password)
    except OSError as exc:
        print(f"faxdropd web-user: cannot write {users_file}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAIL
    print(f"{'added' if new else 'replaced'} {args.name} in {users_file}")
    return EXIT_OK
