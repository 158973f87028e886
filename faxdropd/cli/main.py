"""The `faxdropd` command line: parsing, dispatch and exit codes (DESIGN §2)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from faxdropd import __version__
from faxdropd.cli.context import config_path
from faxdropd.cli.exits import EXIT_FAIL
from faxdropd.errors import FaxdropError


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="faxdropd", description="Watched-folder fax daemon for InterFAX.")
    p.add_argument("-c", "--config", help="config file (default $FAXDROPD_CONFIG or /etc/faxdropd/faxdropd.yaml)")
    p.add_argument("--version", action="version", version=f"faxdropd {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="run the daemon in the foreground (systemd Type=notify)")

    demo = sub.add_parser("demo", help="run the daemon on the built-in emulator with a sample document")
    demo.add_argument("--dir", default="./faxdropd-demo", help="where to make the demo folders")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds")

    sub.add_parser("check-config", help="validate the config and print the routing table")

    explain = sub.add_parser("explain", help="say what would happen to FILE, changing nothing")
    explain.add_argument("file")

    send = sub.add_parser("send", help="send files as one fax, outside the hot folders")
    send.add_argument("files", nargs="+", metavar="FILE")
    send.add_argument("--to", nargs="+", required=True, metavar="NUMBER")
    send.add_argument("--wait", action="store_true", help="follow the fax to its final status")
    send.add_argument("--region", default=None, help="region for numbers without + (default: the config's)")
    send.add_argument(
        "--allow",
        action="append",
        default=None,
        metavar="PATTERN",
        help="extra allow pattern, e.g. '+9999999*' for InterFAX simulator numbers",
    )
    send.add_argument("--subject", default="{name}")

    status = sub.add_parser("status", help="jobs per state, in flight, oldest pending, recent failures")
    status.add_argument("--json", action="store_true")

    retry = sub.add_parser("retry", help="put failed documents back into their hot folder")
    retry.add_argument("paths", nargs="*", metavar="PATH")
    retry.add_argument("--all-failed", action="store_true")

    test = sub.add_parser("notify-test", help="send a test notification through the configured channels")
    test.add_argument("--to", metavar="ADDRESS", default=None, help="mail only this address (no webhooks)")

    emu = sub.add_parser("emulator", help="run the InterFAX emulator as its own server")
    emu.add_argument("--host", default="127.0.0.1")
    emu.add_argument("--port", type=_port, default=8080, help="TCP port, 0 = any free port (default 8080)")
    emu.add_argument("--store", default=None, help="keep received documents here")
    emu.add_argument("--username", default="demo")
    emu.add_argument("--password", default="demo")
    emu.add_argument("--status-delay", type=float, default=5.0, help="seconds from submission to final status")
    emu.add_argument("--tls-cert", default=None)
    emu.add_argument("--tls-key", default=None)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from faxdropd.cli import commands, notifytest  # deferred: `--help` should not pay for importing zeep

    handler = {
        "run": commands.run,
        "demo": commands.demo,
        "check-config": commands.check_config,
        "explain": commands.explain,
        "send": commands.send,
        "status": commands.status,
        "retry": commands.retry,
        "emulator": commands.emulator,
        "notify-test": notifytest.run,
    }[args.command]
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
