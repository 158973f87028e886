"""Loading the YAML configuration: `defaults:` inheritance, key-path errors, secrets, the routing table.

The models themselves (one per YAML block) are in `config_model.py` and re-exported here, so the rest of the
daemon imports everything from `faxdropd.config`.

Every problem becomes a `ConfigError` whose `path` names the key (`folders[2].fax.page_size`) and whose text
is a sentence an operator can act on; when several keys are wrong, one error lists them all, one line each, so
a `systemctl reload` shows everything to fix at once. No message ever contains a secret: pydantic is told to
hide input values, and our own sentences only quote values that cannot be secrets.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from faxdropd.config_model import (
    EMBEDDED,
    FOLDER_ONLY_KEYS,
    KEY_PROBLEMS,
    SOURCES,
    Config,
    Ctx,
    DeliveryConfig,
    FaxOptions,
    FolderConfig,
    FolderSettings,
    InterfaxConfig,
    LimitsConfig,
    LogConfig,
    MetricsConfig,
    RetryConfig,
    SendWindow,
    Settings,
)
from faxdropd.durations import format_duration, parse_duration
from faxdropd.errors import ConfigError

__all__ = [
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
    "RetryConfig",
    "SendWindow",
    "check_paths",
    "load_config",
    "parse_config",
    "parse_duration",
    "render_routing_table",
]

Problem = tuple[str, str]  # (key path, sentence)


class ConfigProblems(ConfigError):
    """A `ConfigError` for one or more problems: `.path` is the first key, `.problems` all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first_path, first_message = problems[0]
        rest = [f"{path}: {message}" if path else message for path, message in problems[1:]]
        super().__init__("\n".join([first_message, *rest]), first_path)


# ----------------------------------------------------------------------------------------------------
# YAML


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


def _load_yaml(text: str) -> object:
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


# ----------------------------------------------------------------------------------------------------
# Loading


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> Config:
    """Read, parse and validate the config file; relative paths in it are relative to its directory."""
    path = Path(path)
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
    data = _load_yaml(text)
    interfax = data.get("interfax") if isinstance(data, dict) else None
    if isinstance(interfax, dict) and interfax.get("password") is not None and mode & 0o004:
        # Checked on the descriptor we read, so the answer is about this very file.
        raise ConfigError(
            "refusing a world-readable config that holds a password; chmod o-r", "interfax.password"
        )
    return parse_config(data, base_dir=path.parent, env=env)


def parse_config(data: Any, *, base_dir: Path, env: Mapping[str, str] | None = None) -> Config:
    """Validate an already-parsed document. `env` defaults to `os.environ` (password_env, credentials, TZ)."""
    if data is None:
        raise ConfigError("the configuration is empty: it needs at least interfax: and folders:")
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys (interfax:, state_dir:, folders:, …)")
    ctx = Ctx(base_dir=Path(base_dir).absolute(), env=os.environ if env is None else env)
    problems: list[Problem] = []

    raw = dict(data)
    defaults_raw = raw.pop("defaults", None)
    folders_raw = raw.pop("folders", None)
    settings = _validate(Settings, raw, "", ctx, problems, extra_keys=("defaults", "folders"))
    defaults = _clean_defaults(defaults_raw, ctx, problems)

    folders: list[FolderConfig] = []
    if folders_raw is None:
        problems.append(("folders", "is required: list at least one hot folder (- path: /srv/fax/outbox)"))
    elif not isinstance(folders_raw, list):
        problems.append(("folders", "must be a list of folders (- path: /srv/fax/outbox)"))
    elif not folders_raw:
        problems.append(("folders", "must list at least one hot folder"))
    else:
        all_valid = True
        for index, entry in enumerate(folders_raw):
            prefix = f"folders[{index}]"
            if not isinstance(entry, Mapping):
                problems.append((prefix, "must be a mapping with at least path:"))
                all_valid = False
                continue
            folder = _validate(FolderConfig, _merge(defaults, entry), prefix, ctx, problems)
            if folder is None:
                all_valid = False
            else:
                folders.append(folder)
                problems.extend(_folder_problems(prefix, folder, ctx.warnings))
        # Cross-folder checks only on a complete list, so indexes in their messages are right.
        if all_valid and settings is not None:
            problems.extend(_cross_check(settings, folders))

    if problems:
        raise ConfigProblems(_unique(problems))
    assert settings is not None
    fields = {name: getattr(settings, name) for name in Settings.model_fields}
    # Everything is validated already; construct without a second pass (which would re-read password files).
    return Config.model_construct(**fields, folders=folders, warnings=list(dict.fromkeys(ctx.warnings)))


M = TypeVar("M", bound=BaseModel)


def _validate(
    model: type[M],
    data: object,
    prefix: str,
    ctx: Ctx,
    problems: list[Problem],
    extra_keys: Iterable[str] = (),
) -> M | None:
    try:
        return model.model_validate(data, context={"faxdropd": ctx})
    except ValidationError as exc:
        problems.extend(_problems_from(exc, prefix, model, tuple(extra_keys)))
        return None


def _clean_defaults(raw: object, ctx: Ctx, problems: list[Problem]) -> dict[str, Any]:
    """`defaults:` validated on its own (errors say `defaults.…`), minus its bad keys.

    The bad keys are dropped before merging so that one mistake in `defaults:` is reported once, not once more
    for every folder that inherits it.
    """
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(("defaults", "must be a mapping of folder settings (stable_seconds:, fax:, …)"))
        return {}
    clean = copy.deepcopy(dict(raw))
    try:
        FolderSettings.model_validate(clean, context={"faxdropd": ctx})
    except ValidationError as exc:
        for error in exc.errors():
            loc = error["loc"]
            if loc and loc[0] == "fax" and len(loc) > 1 and isinstance(clean.get("fax"), dict):
                clean["fax"].pop(loc[1], None)
            elif loc:
                clean.pop(loc[0], None)
        problems.extend(_problems_from(exc, "defaults", FolderSettings, ()))
        for key in FOLDER_ONLY_KEYS:
            clean.pop(key, None)
    return clean


def _merge(defaults: Mapping[str, Any], folder: Mapping[str, Any]) -> dict[str, Any]:
    """A folder's own keys over `defaults:`; `fax:` is merged key by key (a folder overrides one option)."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in folder.items():
        if key == "fax" and isinstance(merged.get("fax"), dict) and isinstance(value, Mapping):
            merged["fax"] = {**merged["fax"], **value}
        elif key == "fax" and value is None:
            continue  # a bare `fax:` line inherits everything
        else:
            merged[key] = value
    return merged


def _folder_problems(prefix: str, folder: FolderConfig, warnings: list[str]) -> list[Problem]:
    if folder.to_from == ["folder"] and not folder.to:
        return [(f"{prefix}.to", "is required: to_from is [folder], so every file would lack a destination")]
    if folder.to and "folder" not in folder.to_from:
        warnings.append(f"{prefix}.to: never used, because to_from does not include folder")
    return []


def _cross_check(settings: Settings, folders: list[FolderConfig]) -> list[Problem]:
    """Checks between folders and against state_dir. Dicts keep this linear for hundreds of folders."""
    problems: list[Problem] = []
    state_dir = Path(os.path.realpath(settings.state_dir))
    by_name: dict[str, int] = {}
    by_path: dict[str, int] = {}
    real = [Path(os.path.realpath(f.path)) for f in folders]
    for index, (folder, path) in enumerate(zip(folders, real, strict=True)):
        prefix = f"folders[{index}]"
        if str(path) in by_path:
            problems.append((f"{prefix}.path", f"is the same folder as folders[{by_path[str(path)]}]"))
        elif folder.name in by_name:
            # Checked only for distinct paths: the same path twice would report its name twice as well.
            problems.append(
                (
                    f"{prefix}.name",
                    f"{folder.name!r} is already the name of folders[{by_name[folder.name]}]; "
                    "names must be unique (set name: to tell them apart)",
                )
            )
        by_name.setdefault(folder.name, index)
        by_path.setdefault(str(path), index)
        if path.is_relative_to(state_dir):
            problems.append(
                (
                    f"{prefix}.path",
                    f"lies inside state_dir ({settings.state_dir}); keep hot folders apart from the journal",
                )
            )
    for index, folder in enumerate(folders):
        for key in ("sent", "failed"):
            target = str(Path(os.path.realpath(getattr(folder, key))))
            if target == str(real[index]):
                problems.append((f"folders[{index}].{key}", "must not be the hot folder itself"))
            elif target in by_path:
                problems.append(
                    (
                        f"folders[{index}].{key}",
                        f"is the hot folder folders[{by_path[target]}]: filed documents would be faxed again",
                    )
                )
    return problems


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


# ----------------------------------------------------------------------------------------------------
# pydantic errors -> (key path, sentence)

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


def _problems_from(
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


# ----------------------------------------------------------------------------------------------------
# check-config output


def render_routing_table(cfg: Config) -> str:
    """The `faxdropd check-config` printout: the global settings, then one block per hot folder.

    Warnings are not part of it: the caller prints `cfg.warnings` and `check_paths(cfg)` where it wants them.
    """
    ix = cfg.interfax
    if ix.url == EMBEDDED:
        account = "embedded emulator (demo/demo)"
    else:
        source = "password inline"
        if ix.password_file:
            source = f"password from {ix.password_file}"
        elif ix.password_env:
            source = f"password from ${ix.password_env}"
        account = f"{ix.url} as {ix.username} ({source})"
    tracking = "not tracked"
    if cfg.delivery.track:
        tracking = f"tracked every {format_duration(cfg.delivery.poll_interval)}"
    tracking += f", unknown outcomes looked up after {format_duration(cfg.delivery.reconcile_grace)}"
    lines = [
        f"InterFAX      {account}",
        f"              SOAP {ix.soap_version}, timeout {format_duration(ix.timeout)}, "
        f"chunks of {ix.chunk_size} bytes, inline up to {ix.inline_max_bytes} bytes",
        f"state_dir     {cfg.state_dir}",
        f"workers       {cfg.workers}",
        f"delivery      {tracking}, at most {cfg.delivery.query_limit_per_minute} status queries a minute",
        f"retry         after {format_duration(cfg.retry.initial)}, x{cfg.retry.factor:g}, at most "
        f"{format_duration(cfg.retry.cap)} apart, give up after {format_duration(cfg.retry.lifetime)}",
        f"limits        {_per_hour(cfg.limits.faxes_per_hour)}, {cfg.limits.pages_per_fax} pages a fax, "
        f"duplicates held for {format_duration(cfg.limits.duplicate_window)}",
        f"log           {cfg.log.format}, {cfg.log.level}",
        f"metrics       {cfg.metrics.listen if cfg.metrics else 'off'}",
        "",
        f"{len(cfg.folders)} hot folder{'s' if len(cfg.folders) != 1 else ''}:",
    ]
    for folder in cfg.folders:
        fax = folder.fax
        lines += [
            "",
            f"[{folder.name}] {folder.path}",
            f"  destinations  {_destinations(folder)}",
            f"  numbers       region {folder.region}; allow {', '.join(folder.allow) or '(none)'}; "
            f"deny {', '.join(folder.deny) or '(none)'}",
            f"  watch         {folder.watch}, stable after {format_duration(folder.stable_seconds)}, "
            f"poll every {format_duration(folder.poll_interval)}, "
            f"rescan every {format_duration(folder.rescan_interval)}",
            f"  files         {' '.join(folder.include)}  (ignoring {' '.join(folder.ignore)})",
            f"  fax           {fax.page_size} {fax.orientation}, resolution {fax.resolution}, rendering "
            f"{fax.rendering}, {fax.retries} retries",
            f"                csid {fax.csid!r}, header {fax.page_header!r}, subject {fax.subject!r}"
            + (f", contact {fax.contact!r}" if fax.contact else "")
            + (f", replies to {fax.reply_address}" if fax.reply_address else ""),
            f"  cover page    {fax.cover_page or 'none'}",
            f"  send window   {fax.send_window.describe() if fax.send_window else 'always'}",
            f"  hourly cap    {_per_hour(folder.faxes_per_hour) if folder.faxes_per_hour else 'global only'}",
            f"  sent          {folder.sent}",
            f"  failed        {folder.failed}",
        ]
    return "\n".join(lines) + "\n"


def _per_hour(count: int | None) -> str:
    return f"{count} faxes an hour" if count else "no hourly cap"


def _destinations(folder: FolderConfig) -> str:
    described = {
        "sidecar": "sidecar <document>.fax.yaml",
        "filename": "number in the file name",
        "folder": ("folder: " + ", ".join(folder.to)) if folder.to else "folder: (no number configured)",
    }
    return " -> ".join(described[source] for source in folder.to_from if source in SOURCES)


def check_paths(cfg: Config) -> list[str]:
    """Warnings about paths as they are on this host now (missing folders and so on); never an error.

    Folders need not exist when the config is loaded: shares mount later; the daemon copes at run time.
    """
    warnings: list[str] = []

    def stat(path: Path) -> os.stat_result | None:
        try:
            return path.stat()
        except OSError:
            return None

    for index, folder in enumerate(cfg.folders):
        label = f"folders[{index}] ({folder.name})"
        info = stat(folder.path)
        if info is None:
            warnings.append(f"{label}: {folder.path} does not exist (or cannot be reached)")
            continue
        if not folder.path.is_dir():
            warnings.append(f"{label}: {folder.path} is not a directory")
            continue
        if not os.access(folder.path, os.R_OK | os.W_OK | os.X_OK):
            warnings.append(f"{label}: {folder.path} is not readable and writable by this user")
        for key in ("sent", "failed"):
            target: Path = getattr(folder, key)
            target_info = stat(target)
            if target_info is None:
                continue  # created by the daemon on first use
            if not target.is_dir():
                warnings.append(f"{label}: {key} {target} is not a directory")
            elif target_info.st_dev != info.st_dev:
                warnings.append(
                    f"{label}: {key} {target} is on another filesystem; documents are copied, not renamed"
                )
        if folder.fax.cover_page is not None and stat(folder.fax.cover_page) is None:
            warnings.append(f"{label}: cover page {folder.fax.cover_page} does not exist")
    if stat(cfg.state_dir) is None:
        warnings.append(f"state_dir: {cfg.state_dir} does not exist yet")
    if isinstance(cfg.interfax.verify_tls, str) and stat(Path(cfg.interfax.verify_tls)) is None:
        warnings.append(f"interfax.verify_tls: CA bundle {cfg.interfax.verify_tls} does not exist")
    return warnings
