"""The `faxdropd` command line: dispatch and exit codes (DESIGN §2); the grammar is in parser.py."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from faxdropd.cli.context import config_path
from faxdropd.cli.exits import EXIT_FAIL
from faxdropd.cli.parser import parse
from faxdropd.errors import FaxdropError

Handler = Callable[[argparse.Namespace, Path], int]


def _handler(command: str) -> Handler:
    # Imported on demand: `--help` and `status` should not pay for importing zeep.
    if command in ("queue", "show"):
        from faxdropd.cli import console

        return console.queue if command == "queue" else console.show
    if command in ("hold", "release", "cancel"):
        from faxdropd.cli import control

        return control.handle
    if command == "status":
        from faxdropd.cli import status

        return status.status
    if command == "retry":
        from faxdropd.cli import retry

        return retry.retry
    if command == "adopt":
        from faxdropd.cli import adopt

        return adopt.adopt
    if command == "web-user":
        from faxdropd.cli import webuser

        return webuser.web_user
    if command == "notify-test":
        from faxdropd.cli import notifytest

        return notifytest.run
    if command in ("completion", "man"):
        from faxdropd.cli import manual

        return manual.completion if command == "completion" else manual.man
    from faxdropd.cli import commands

    handler: Handler = {
        "run": commands.run,
        "demo": commands.demo,
        "check-config": commands.check_config,
        "explain": commands.explain,
        "send": commands.send,
        "emulator": commands.emulator,
    }[command]
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(list(argv) if argv is not None else None)
    handler = _handler(args.command)
    try:
        return handler(args, config_path(args))
    except KeyboardInterrupt:
        return 130
    except FaxdropError as exc:  # a domain error no command handled: one sentence, not a traceback
        print(f"faxdropd {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except BrokenPipeError:
        # `faxdropd status | head`: the reader left; say nothing more, and keep Python's exit-time flush of
        # stdout from raising the same error again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
