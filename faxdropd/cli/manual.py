"""`faxdropd completion bash|zsh` (shtab) and `faxdropd man`: both generated from the one parser, so neither
can drift from the commands; the man page is roff built from every subcommand's description and options."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from faxdropd import __version__
from faxdropd.cli.exits import EXIT_CODES_HELP, EXIT_OK
from faxdropd.cli.parser import build_parser


def completion(args: argparse.Namespace, path: Path) -> int:
    import shtab

    print(shtab.complete(build_parser(), shell=args.shell))
    return EXIT_OK


def man(args: argparse.Namespace, path: Path) -> int:
    print(render_man(build_parser()))
    return EXIT_OK


def _roff(text: str) -> str:
    escaped = text.replace("\\", "\\e").replace("-", "\\-")
    # A line starting with . or ' would be read as a roff request.
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in escaped.splitlines())


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        return f"\\fI{_roff(str(action.metavar or action.dest))}\\fR"
    names = ", ".join(f"\\fB{_roff(o)}\\fR" for o in action.option_strings)
    if action.nargs == 0:
        return names
    metavar = action.metavar or ("{" + ",".join(action.choices) + "}" if action.choices else action.dest.upper())
    return f"{names} \\fI{_roff(str(metavar))}\\fR"


def _options(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> list[str]:
    lines: list[str] = []
    for action in parser._actions:
        if action.dest in skip:
            continue  # -c/--config: listed once, under OPTIONS
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or action.help == argparse.SUPPRESS:
            continue
        help_text = (action.help or "") % {"default": action.default}
        lines += [".TP", _usage(action), _roff(help_text)]
    return lines


def render_man(parser: argparse.ArgumentParser) -> str:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out = [
        f'.TH FAXDROPD 8 "{date}" "faxdropd {__version__}" "System Administration"',
        ".SH NAME",
        "faxdropd \\- " + _roff(parser.description or ""),
        ".SH SYNOPSIS",
        "\\fBfaxdropd\\fR [\\fB\\-c\\fR \\fIFILE\\fR] \\fICOMMAND\\fR [\\fIoptions\\fR]",
        ".SH OPTIONS",
        *_options(parser),
        ".SH COMMANDS",
    ]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        out += [".SS " + _roff(name), _roff(sub.description or ""), *_options(sub, skip=("config",))]
    codes = EXIT_CODES_HELP.splitlines()[1:]
    out += [".SH EXIT STATUS"]
    for line in codes:
        code, _, meaning = line.strip().partition(" ")
        out += [".TP", f"\\fB{code}\\fR", _roff(meaning.strip())]
    out += [".SH ENVIRONMENT", ".TP", "\\fBFAXDROPD_CONFIG\\fR", "the config file when \\fB\\-c\\fR is not given"]
    out += [".TP", "\\fBNO_COLOR\\fR", "any value: no colours in the console log"]
    return "\n".join(out)
