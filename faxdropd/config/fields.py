"""The building blocks of the config models: the validation context and the reusable field types.

Each field type checks its value in a before-validator, so that a bad value gives exactly one sentence an
operator can act on. The models that use them are in `config_model.py`, `config_window.py` and
`config_interfax.py`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict, ValidationInfo
from pydantic_core import PydanticCustomError

from faxdropd.config.context import Ctx, resolve_path, single_line
from faxdropd.config.durations import parse_duration

# ----------------------------------------------------------------------------------------------------
# Validation context: what a validator needs to know about the world (where the file is, the environment).


def ctx_of(info: ValidationInfo) -> Ctx:
    context = info.context
    if isinstance(context, dict) and isinstance(context.get("faxdropd"), Ctx):
        found: Ctx = context["faxdropd"]
        return found
    # Models built directly in code (tests, `faxdropd send`) resolve against the working directory.
    return Ctx(base_dir=Path.cwd(), env=os.environ)


KEY_PROBLEMS = "faxdropd_key_problems"


def key_problems(problems: list[tuple[str, str]]) -> PydanticCustomError:
    """An error for one or more keys *below* the validator's location (pydantic alone cannot say which key).

    `config_errors.py` expands `ctx["problems"]` into one line per (relative key, sentence).
    """
    summary = "; ".join(f"{key}: {message}" if key else message for key, message in problems)
    return PydanticCustomError(KEY_PROBLEMS, "{summary}", {"summary": summary, "problems": tuple(problems)})


# ----------------------------------------------------------------------------------------------------
# Reusable field types. Before-validators do the checking so that each bad value gives exactly one sentence
# (pydantic's own union/literal messages are correct but not what an operator wants to read).


def _seconds(value: object) -> float:
    return parse_duration(value)


def _positive_seconds(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError("must be longer than 0 seconds")
    return seconds


Duration = Annotated[float, BeforeValidator(_seconds)]
PositiveDuration = Annotated[float, BeforeValidator(_positive_seconds)]
StrictInt = Annotated[int, Strict()]


Text = Annotated[str, BeforeValidator(single_line)]


def choice(*options: str) -> Callable[[object], str]:
    """Case-insensitive choice with canonical output ("letter" -> "Letter")."""
    canonical = {o.lower(): o for o in options}
    sentence = "must be one of " + ", ".join(options)

    def check(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in canonical:
            return canonical[value.strip().lower()]
        raise ValueError(sentence)

    return check


def one_or_many(value: object) -> object:
    # `to: "+1 212 555 0100"` and `to: [a, b]` both mean a list; a lone string is the common case.
    return [value] if isinstance(value, str) else value


def abs_path(value: object, info: ValidationInfo) -> Path:
    return resolve_path(value, ctx_of(info).base_dir)


AbsPath = Annotated[Path, BeforeValidator(abs_path)]


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str):
        # Unquoted +12125550100 is the integer 12125550100 to YAML, and 0161… is octal: the + or 0 is lost.
        raise ValueError('must be a phone number in quotes ("+1 212 555 0100"); unquoted, YAML drops a leading + or 0')
    if not re.fullmatch(r"[+0-9 ()./-]+", value) or not any(c.isdigit() for c in value):
        raise ValueError("must be a phone number: digits, an optional leading +, spaces, - . ( )")
    return value


def _number_glob(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\+[0-9*?\[\]!-]*", value):
        raise ValueError(
            'must be an E.164 pattern: "+" then digits and the wildcards * ? [ ], without spaces ("+1212*")'
        )
    return value


def _name_glob(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError('must be a file name pattern in quotes ("*.pdf")')
    if "/" in value or "\x00" in value:
        raise ValueError("matches file names, not paths: drop the directory part")
    return value


def _region(value: object) -> str:
    if isinstance(value, bool):
        # The Norway problem: YAML 1.1 reads an unquoted NO as false.
        raise ValueError('must be a region code in quotes ("NO"); YAML read this one as true/false')
    # Deferred: phonenumbers takes ~25 ms to load, and a console command reading a config without `region:`
    # (`queue`) never needs it.
    from phonenumbers import SUPPORTED_REGIONS

    if isinstance(value, str) and value.strip().upper() in SUPPORTED_REGIONS:
        return value.strip().upper()
    raise ValueError("must be a two-letter region code that phonenumbers knows, such as US, GB, DE")


Number = Annotated[str, BeforeValidator(_number)]
Region = Annotated[str, BeforeValidator(_region)]


def _numbers(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)  # raises the "put it in quotes" sentence at `to` itself
    return one_or_many(value)


Numbers = Annotated[list[Number], BeforeValidator(_numbers)]
NumberGlob = Annotated[str, BeforeValidator(_number_glob)]
NameGlob = Annotated[str, BeforeValidator(_name_glob)]

SOURCES = ("sidecar", "filename", "folder")
CSID_MAX = 20  # InterFAX: a CSID of up to 20 characters; checked in the config, sidecars and SendfaxEx_2


class StrictModel(BaseModel):
    """The base of every config model: unknown keys are errors (typos must not pass silently), and pydantic's
    own error text never shows the input (a password must never reach a log through an error)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, validate_default=False)
