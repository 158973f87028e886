"""pydantic's validation errors turned into (key path, sentence) pairs for `errors.ConfigProblems` to raise.

A path names the key as the operator wrote it (`folders[2].fax.page_size`); a sentence is something they can
act on. pydantic is told to hide input values, and these sentences never quote one, so no secret leaks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from faxdropd.config.fields import KEY_PROBLEMS
from faxdropd.config.model import FOLDER_ONLY_KEYS, Config, FolderSettings, Settings
from faxdropd.errors import Problem

_SIMPLE = {
    "missing": "is required",
    "string_type": 'must be text; put it in quotes ("…")',
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list (- item, or [a, b])",
    "model_type": "must be a mapping of keys (key: value)",
    "model_attributes_type": "must be a mapping of keys (key: value)",
    "dict_type": "must be a mapping of keys (key: value)",
    "path_type": "must be a path",
    "time_type": "must be a time of day (HH:MM)",
    "time_parsing": "must be a time of day (HH:MM)",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than": ("lt", "must be less than {}"),
    "string_too_long": ("max_length", "must be at most {} characters"),
    "string_too_short": ("min_length", "must be at least {} characters"),
    "too_short": ("min_length", "must list at least {} item(s)"),
    "too_long": ("max_length", "must list at most {} item(s)"),
}


def problems_from(
    exc: ValidationError, prefix: str, root: type[BaseModel], extra_keys: tuple[str, ...]
) -> list[Problem]:
    out: list[Problem] = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
        ctx = error.get("ctx") or {}
        kind = error["type"]
        if kind == KEY_PROBLEMS:
            for key, message in ctx.get("problems", ()):
                out.append((_join(prefix, loc + tuple(key.split(".")) if key else loc), message))
        elif kind == "extra_forbidden":
            out.append((_join(prefix, loc), _unknown_key(root, loc, extra_keys)))
        else:
            out.append((_join(prefix, loc), _sentence(kind, error["msg"], ctx)))
    return out


def _sentence(kind: str, fallback: str, ctx: Mapping[str, Any]) -> str:
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind in _BOUNDS:
        name, template = _BOUNDS[kind]
        if kind in ("too_long", "too_short") and ctx.get("field_type") != "List":
            # A length limit on a validated string (csid, subject) arrives as a generic "Value" length.
            kind = "string_" + kind
            name, template = _BOUNDS[kind]
        if kind == "string_too_short" and ctx.get(name) == 1:
            return "must not be empty"
        return template.format(ctx.get(name, "?"))
    if kind == "literal_error":
        return "must be one of " + str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
    return fallback.replace("Input should be", "must be").replace("Value error, ", "")


def _unknown_key(root: type[BaseModel], loc: tuple[str | int, ...], extra_keys: tuple[str, ...]) -> str:
    key = str(loc[-1]) if loc else ""
    if root is FolderSettings and len(loc) == 1 and key in FOLDER_ONLY_KEYS:
        return f"{key} belongs in each folder entry, not in defaults"
    model = _model_at(root, loc[:-1])
    if model is None:
        return "unknown key"
    known = list(model.model_fields) + (list(extra_keys) if len(loc) == 1 else [])
    if model is Settings or model is Config:
        known = [k for k in known if k != "warnings"]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]}?"
    return "unknown key; expected one of " + ", ".join(known)


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    current: type[BaseModel] | None = root
    for part in loc:
        if isinstance(part, int):
            continue  # a list position: the item model is what the annotation already named
        if current is None or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    return current


def _inner_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")


def _join(prefix: str, loc: Iterable[str | int]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            path += f".{part}" if path else part
        else:
            # A mistyped key with blanks or newlines must not break the one-line-per-problem layout.
            path += f"[{part[:40]!r}]"
    return path
