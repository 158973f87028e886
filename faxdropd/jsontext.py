"""The console's JSON for people and pipes (`queue`, `show`, `status --json`): two-space indented, one place.

``json.dumps(indent=2)`` turns the standard library's C encoder off, so `queue --json` over thousands of jobs
spent more time indenting than reading the journal; orjson indents in C. What orjson refuses (a file name
that is not UTF-8 decodes to lone surrogates; an integer beyond 64 bits) falls back to the standard library,
which escapes it: the output is valid JSON either way and no job makes the command fail.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["pretty"]


def pretty(value: Any) -> str:
    """``value`` as indented JSON text (no trailing newline)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, indent=2)
