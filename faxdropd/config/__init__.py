"""Loading the YAML configuration: `defaults:` inheritance, cross-folder checks, the entry points.

Everything the rest of the daemon needs is re-exported here, so it imports from `faxdropd.config` only. The
parts live next door: the models (one per YAML block) in `model.py`, with their field types in
`fields.py`, the send window in `window.py` and the `interfax:` block in `interfax.py`;
the YAML dialect in `yamlfile.py`; key-path error sentences in `messages.py`; the `check-config`
printout in `table.py`.

Every problem becomes a `ConfigError` whose `path` names the key (`folders[2].fax.page_size`) and whose text
is a sentence an operator can act on; when several keys are wrong, one error lists them all, one line each, so
a `systemctl reload` shows everything to fix at once. No message ever contains a secret: pydantic is told to
hide input values, and our own sentences only quote values that cannot be secrets.

The names are loaded on first use (PEP 562): importing a light submodule (`durations`, `place`) runs this
file first, and must not build the models (pydantic, ~130 ms) for a console command that never needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faxdropd.config.durations import parse_duration
    from faxdropd.config.interfax import InterfaxConfig
    from faxdropd.config.load import load_config, parse_config
    from faxdropd.config.model import (
        INSTANCE_RE,
        Config,
        DeliveryConfig,
        FaxOptions,
        FolderConfig,
        FolderSettings,
        LimitsConfig,
        LogConfig,
        MetricsConfig,
        RetentionConfig,
        RetryConfig,
        SendWindow,
        WebConfig,
    )
    from faxdropd.config.table import check_paths, render_routing_table
    from faxdropd.errors import ConfigProblems

_MODEL = (
    "INSTANCE_RE Config DeliveryConfig FaxOptions FolderConfig FolderSettings LimitsConfig LogConfig "
    "MetricsConfig RetentionConfig RetryConfig SendWindow WebConfig"
)
_HOME = {
    "parse_duration": "faxdropd.config.durations",
    "InterfaxConfig": "faxdropd.config.interfax",
    "load_config": "faxdropd.config.load",
    "parse_config": "faxdropd.config.load",
    "check_paths": "faxdropd.config.table",
    "render_routing_table": "faxdropd.config.table",
    "ConfigProblems": "faxdropd.errors",
    **dict.fromkeys(_MODEL.split(), "faxdropd.config.model"),
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # the next look-up is a plain global
    return value


__all__ = [
    "INSTANCE_RE",
    "Config",
    "ConfigProblems",
    "DeliveryConfig",
    "FaxOptions",
    "FolderConfig",
    "FolderSettings",
    "InterfaxConfig",
    "LimitsConfig",
    "LogConfig",
    "MetricsConfig",
    "RetentionConfig",
    "RetryConfig",
    "SendWindow",
    "WebConfig",
    "check_paths",
    "load_config",
    "parse_config",
    "parse_duration",
    "render_routing_table",
]
