"""JSON in C, in one place: the console's for people and pipes (`queue`, `show`, `status --json`), two-space
indented, the receipts' bytes, and the journal's JSON columns read back.

``json.dumps(indent=2)`` turns the standard library's C encoder off, so `queue --json` over thousands of jobs
spent more time indenting than reading the journal; orjson indents in C. What orjson refuses (a file name
that is not UTF-8 decodes to lone surrogates; an integer beyond 64 bits) falls back to the standard library,
which escapes it: the output is valid JSON either way and no job makes the command fail.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["ascii_pretty", "loads", "pretty"]


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


# The types orjson writes exactly as the standard library does (an int beyond 64 bits is refused by orjson).
_ALIKE = frozenset({str, int, bool, type(None)})


def _alike(value: Any) -> bool:
    kind = type(value)
    if kind in _ALIKE:
        return True
    if kind is dict:
        return all(type(key) is str and _alike(item) for key, item in value.items())
    if kind is list:
        return all(_alike(item) for item in value)
    return False


def ascii_pretty(value: Any) -> bytes:
    """Exactly ``json.dumps(value, indent=2, ensure_ascii=True, default=str)`` as ASCII bytes (a receipt).

    orjson writes it when it would write the same bytes: strings, integers, booleans and None in dicts and
    lists, and text that is printable ASCII or a control character (orjson leaves DEL and everything beyond
    ASCII unescaped, where the standard library writes \\u escapes). Floats (orjson spells some
    exponents otherwise), tuples, dates, Decimals and the rest go to the standard library. A test compares the
    two on every ASCII character and the value shapes a receipt holds.
    """
    if _alike(value):
        try:
            out = orjson.dumps(value, option=orjson.OPT_INDENT_2)
        except orjson.JSONEncodeError:
            out = b""
        if out and out.isascii() and b"\x7f" not in out:
            return out
    return json.dumps(value, indent=2, ensure_ascii=True, default=str).encode("ascii")
