"""The YAML dialect of the config file: `yaml.safe_load`, except that a key given twice is an error; reading the file.

Syntax errors become a `ConfigError` built from the position only, so no secret is ever quoted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from faxdropd.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """`yaml.safe_load`'s loader, except that a key given twice is an error instead of "the last one wins"."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[object, int] = {}
    for key_node, _ in node.value:
        # Merge keys (`<<: *base`) may legitimately be overridden; only literal keys are compared.
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            key = loader.construct_object(key_node)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {str(key)[:40]!r} (first given on line {seen[key] + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(text: str) -> object:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        # Built from the problem and position only: PyYAML's own str() quotes the offending line, which may
        # be `password: "...`.
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        message = f"YAML syntax error{where}: {exc.problem or 'unreadable'}"
        if exc.context and exc.context_mark is not None:
            start = exc.context_mark
            message += f" ({exc.context} that starts at line {start.line + 1}, column {start.column + 1})"
        raise ConfigError(message) from None
    except yaml.YAMLError:
        raise ConfigError("YAML syntax error: the file cannot be read as YAML") from None


def read_config_file(path: Path) -> object:
    """The config file's document, refusing one that is not UTF-8, and a world-readable one holding a password."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration file {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the configuration file {path} is not UTF-8 text (byte {exc.start})") from None
    data = load_yaml(text)
    interfax = data.get("interfax") if isinstance(data, dict) else None
    if isinstance(interfax, dict) and interfax.get("password") is not None and mode & 0o004:
        # Checked on the descriptor we read, so the answer is about this very file.
        raise ConfigError("refusing a world-readable config that holds a password; chmod o-r", "interfax.password")
    return data
