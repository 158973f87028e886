"""Loading the YAML configuration: `defaults:` inheritance, cross-folder checks, `load_config`."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from faxdropd.config.context import Ctx
from faxdropd.config.messages import problems_from
from faxdropd.config.model import (
    FOLDER_ONLY_KEYS,
    Config,
    FolderConfig,
    FolderSettings,
    Settings,
)
from faxdropd.config.notify import folder_problems as notify_problems
from faxdropd.config.yamlfile import read_config_file
from faxdropd.errors import ConfigError, ConfigProblems, Problem

# ----------------------------------------------------------------------------------------------------
# Loading


def load_config(path: Path, *, env: Mapping[str, str] | None = None, need_password: bool = True) -> Config:
    """Read, parse and validate the config file; relative paths in it are relative to its directory.

    `need_password=False` validates everything but does not read password_file/password_env (the password
    stays empty): for commands that never call InterFAX.
    """
    path = Path(path)
    data = read_config_file(path)
    return parse_config(data, base_dir=path.parent, env=env, need_password=need_password)


def parse_config(
    data: Any, *, base_dir: Path, env: Mapping[str, str] | None = None, need_password: bool = True
) -> Config:
    """Validate an already-parsed document. `env` defaults to `os.environ` (password_env, credentials, TZ)."""
    if data is None:
        raise ConfigError("the configuration is empty: it needs at least interfax: and folders:")
    if not isinstance(data, Mapping):
        raise ConfigError("the configuration must be a mapping of keys (interfax:, state_dir:, folders:, …)")
    ctx = Ctx(base_dir=Path(base_dir).absolute(), env=os.environ if env is None else env, need_password=need_password)
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
                if settings is not None:
                    problems.extend(notify_problems(settings.notify, prefix, folder.notify))
        # Cross-folder checks only on a complete list, so indexes in their messages are right.
        if all_valid and settings is not None:
            problems.extend(_cross_check(settings, folders))

    if problems:
        raise ConfigProblems(_unique(problems))
    assert settings is not None
    fields = {name: getattr(settings, name) for name in Settings.model_fields}
    # Everything is validated already; construct without a second pass (which would re-read password files).
    config = Config.model_construct(**fields, folders=folders, warnings=list(dict.fromkeys(ctx.warnings)))
    config._journal_password = settings._journal_password  # read by the validator, not a key of the file
    return config


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
        problems.extend(problems_from(exc, prefix, model, tuple(extra_keys)))
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
        problems.extend(problems_from(exc, "defaults", FolderSettings, ()))
        for key in FOLDER_ONLY_KEYS:
            clean.pop(key, None)
    return clean


_MERGED = ("fax", "retention", "notify")


def _merge(defaults: Mapping[str, Any], folder: Mapping[str, Any]) -> dict[str, Any]:
    """A folder's own keys over `defaults:`; `fax:`, `retention:` and `notify:` are merged key by key (a folder
    overrides one option)."""
    merged = copy.deepcopy(dict(defaults))
    for key, value in folder.items():
        if key in _MERGED and isinstance(merged.get(key), dict) and isinstance(value, Mapping):
            merged[key] = {**merged[key], **value}
        elif key in _MERGED and value is None:
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
