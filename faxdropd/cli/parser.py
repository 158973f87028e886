"""The `faxdropd` command line's grammar: every subcommand and option with its help, exit codes in the epilog.

`-c/--config` is accepted before and after the subcommand: the main parser and every subparser know it, the
subparsers with a default of SUPPRESS so that an option given before the subcommand is not overwritten.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from faxdropd import __version__
from faxdropd.cli.exits import EXIT_CODES_HELP

CONFIG_HELP = "config file (default $FAXDROPD_CONFIG or /etc/faxdropd/faxdropd.yaml)"
JOB_HELP = "job ids (as `faxdropd queue` shows them), references or file names"
STATES = ("claimed", "uploading", "submitting", "submitted", "deferred", "unknown")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not between 0 and 65535")
    return port


def _parent() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("-c", "--config", default=argparse.SUPPRESS, metavar="FILE", help=CONFIG_HELP)
    return parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="faxdropd",
        description="Watched-folder fax daemon for InterFAX.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-c", "--config", default=None, metavar="FILE", help=CONFIG_HELP)
    p.add_argument("--version", action="version", version=f"faxdropd {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = [_parent()]

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=summary,
            description=description or summary[0].upper() + summary[1:] + ".",
            parents=parent,
            epilog=EXIT_CODES_HELP,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    command("run", "run the daemon in the foreground (systemd Type=notify)")

    demo = command("demo", "run the daemon on the built-in emulator with a sample document")
    demo.add_argument("--dir", default="./faxdropd-demo", help="where to make the demo folders (default %(default)s)")
    demo.add_argument("--duration", type=float, default=None, help="stop after this many seconds (default: Ctrl-C)")

    command("check-config", "validate the config and print the routing table (the password is not read)")

    explain = command("explain", "say what would happen to FILE, changing nothing")
    explain.add_argument("file", metavar="FILE", help="a file in (or meant for) a hot folder")

    send = command("send", "send files as one fax, outside the hot folders")
    send.add_argument("files", nargs="*", metavar="FILE", help="documents to send, in this order, as one fax")
    send.add_argument("--to", nargs="+", required=True, metavar="NUMBER", help="fax numbers to send to")
    send.add_argument("--wait", action="store_true", help="follow the fax to its final status")
    send.add_argument("--region", default=None, help="region for numbers without + (default: the config's)")
    send.add_argument(
        "--allow",
        action="append",
        default=None,
        metavar="PATTERN",
        help="extra allow pattern, e.g. '+9999999*' for InterFAX simulator numbers",
    )
    send.add_argument("--subject", default="{name}", help="the fax's subject ({name}: the first file's name)")

    status = command(
        "status",
        "jobs per state, holds, in flight, oldest pending, recent failures, whether the daemon runs",
        "Summarise the journal. Exit 0 when all is well, 1 when degraded (sending paused, a folder down, "
        "failures in the last hour), 3 when it cannot tell (no journal): usable as a monitoring check.",
    )
    status.add_argument("--json", action="store_true", help="print the report as JSON")

    queue = command("queue", "list every job not final and every file waiting in a hot folder")
    queue.add_argument("--json", action="store_true", help="print a JSON list of jobs (and no waiting files)")
    queue.add_argument("--folder", metavar="NAME", help="only this hot folder")
    queue.add_argument("--state", choices=STATES, help="only jobs in this state (no waiting files)")

    show = command("show", "one job's history: state changes, receipt, InterFAX transaction ids")
    show.add_argument(
        "job", metavar="JOB|FILE", help="job id, reference, or file: original name, path in sent/ or failed/"
    )
    show.add_argument("--json", action="store_true", help="print the job's fields and events as JSON")

    for name, summary in (
        ("hold", "keep jobs, or every job of a folder, from being submitted until released"),
        ("release", "let held jobs or folders be submitted again"),
    ):
        verb = command(name, summary)
        verb.add_argument("jobs", nargs="*", metavar="JOB", help=JOB_HELP)
        verb.add_argument("--folder", action="append", metavar="NAME", help="a hot folder by name (repeatable)")
        verb.add_argument("--reason", default="", metavar="TEXT", help="why, kept with the hold")

    cancel = command(
        "cancel",
        "cancel jobs: unsent ones are filed in failed/, submitted ones cancelled at InterFAX",
        "Cancel jobs. A job not yet submitted is filed in failed/ with 'cancelled by operator: TEXT'; a fax "
        "submitted and still in progress is cancelled with CancelFax and filed by its final status (this needs "
        "the running daemon or the InterFAX password). The document is never lost.",
    )
    cancel.add_argument("jobs", nargs="+", metavar="JOB", help=JOB_HELP)
    cancel.add_argument("--reason", default="", metavar="TEXT", help="why; written into the receipt's reason")

    retry = command("retry", "put failed documents back into their hot folder")
    retry.add_argument("paths", nargs="*", metavar="PATH", help="documents (or receipts) in a failed/ directory")
    retry.add_argument("--all-failed", action="store_true", help="every document in every failed/ directory")
    retry.add_argument("--reason", metavar="REGEX", help="only documents whose receipt's reason matches")
    retry.add_argument("--since", metavar="DURATION", help="only documents that failed within this time (1h, 30m)")
    retry.add_argument("--dry-run", action="store_true", help="say what would be retried, move nothing")
    retry.add_argument("--force", action="store_true", help="also retry failures that would certainly repeat")

    adopt = command(
        "adopt",
        "take over the work of a peer host that died for good",
        "Move a dead peer's work areas into this host's area (one atomic rename per hot folder). This host's "
        "daemon then settles every adopted document by its reference with InterFAX before anything is sent. "
        "Refused while the peer was active within peer_timeout, unless --force.",
    )
    adopt.add_argument("instance", metavar="INSTANCE", help="the dead peer's instance id (its work area's name)")
    adopt.add_argument("--force", action="store_true", help="adopt even though the peer was active recently")

    web_user = command("web-user", "add or replace a user of the front-desk page (password from a prompt or stdin)")
    web_user.add_argument("name", metavar="NAME", help="the user name: printable, no ':'")
    web_user.add_argument("--file", default=None, help="the users file (default: the config's web.users_file)")

    notify_test = command(
        "notify-test",
        "send a test notification through every configured channel and say what each server answered",
        "Send a test message through the notify: block's mail server and webhooks, directly (not through the "
        "journal's outbox), and print each server's answer. Exit 1 when a channel failed.",
    )
    notify_test.add_argument("--to", metavar="ADDRESS", default=None, help="mail only this address (no webhooks)")

    emu = command("emulator", "run the InterFAX emulator as its own server")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    emu.add_argument("--port", type=_port, default=8080, help="TCP port, 0 = any free port (default 8080)")
    emu.add_argument("--store", default=None, help="keep received documents here")
    emu.add_argument("--username", default="demo", help="the account's user name (default %(default)s)")
    emu.add_argument("--password", default="demo-password", help="the account's password (default %(default)s)")
    emu.add_argument("--status-delay", type=float, default=5.0, help="seconds from submission to final status")
    emu.add_argument("--tls-cert", default=None, help="serve https with this certificate (PEM)")
    emu.add_argument("--tls-key", default=None, help="the certificate's private key (PEM)")

    completion = command("completion", "print a shell completion script (bash or zsh)")
    completion.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")

    command("man", "print the manual page (roff), generated from this parser")
    return p


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "send" and not args.files:
        # `send --to NUMBER FILE`: --to took the file too; give back its trailing words that name files.
        while len(args.to) > 1 and Path(args.to[-1]).exists():
            args.files.insert(0, args.to.pop())
        if not args.files:
            parser.error("send: FILE required (name the documents before --to, or after its numbers)")
    return args
