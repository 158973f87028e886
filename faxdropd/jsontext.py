"""JSON in C, in one place: the console's for people and pipes (`queue`, `show`, `status --json`), two-space
indented, and the journal's JSON columns read back.

``json.dumps(indent=2)`` turns the standard library's C encoder off, so `queue --json` over thousands of jobs
spent more time indenting than reading the journal; orjson indents in C. What orjson refuses (a file name
that is not UTF-8 decodes to lone surrogates; an integer beyond 64 bits) falls back to the standard library,
which escapes it: the output is valid JSON either way and no job makes the command fail.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["loads", "pretty"]


def pretty(value: Any) -> str:
    """``value`` as indented JSON text (no trailing newline)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2)


def loads(text: str) -> Any:
    """JSON text as Python values, in C (the journal's JSON columns, thousands of rows a `queue`). What orjson
    refuses and the standard library reads (NaN, an escaped lone surrogate) goes to the standard library."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
