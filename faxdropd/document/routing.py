"""Where a document goes: sidecar > file name > folder (in the folder's `to_from` order), then number policy.

A routing mistake faxes the wrong person, so every doubt raises a `Rejection` with a sentence (the document goes
to failed/), never a guess: unknown sidecar keys, a bad option value, one refused number in a broadcast.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from faxdropd.config.fields import CSID_MAX
from faxdropd.config.yamlfile import load_yaml
from faxdropd.document.faxnumbers import INVALID, NumberDecision, normalise
from faxdropd.document.namenumbers import NameNumber, numbers_in_name
from faxdropd.errors import ConfigError, Rejected, storage_failure
from faxdropd.interfax.faxfields import FaxOptionsLike

SIDECAR_MAX_BYTES = 64 * 1024  # a control file is a few lines; anything bigger is a mistake or an attack
SIDECAR_KEYS = frozenset({"to", "fax", "notify"})
FAX_KEYS = (
    "csid",
    "page_header",
    "subject",
    "contact",
    "reply_address",
    "page_size",
    "orientation",
    "resolution",
    "rendering",
    "retries",
    "cover_page",
    "send_window",
)
_CHOICES: dict[str, tuple[str, ...]] = {
    "page_size": ("A4", "Letter", "Legal", "B4"),
    "orientation": ("portrait", "landscape"),
    "resolution": ("standard", "fine"),
    "rendering": ("standard", "fine"),
}
_TEXT_KEYS = ("csid", "page_header", "subject", "contact", "reply_address")


class FolderLike(Protocol):
    """The attributes of config.FolderConfig routing reads."""

    @property
    def path(self) -> Path: ...
    @property
    def name(self) -> str: ...
    @property
    def to(self) -> Sequence[str]: ...
    @property
    def to_from(self) -> Sequence[str]: ...
    @property
    def region(self) -> str: ...
    @property
    def allow(self) -> Sequence[str]: ...
    @property
    def deny(self) -> Sequence[str]: ...
    @property
    def fax(self) -> FaxOptionsLike: ...


class Rejection(Rejected):
    """A routing refusal: the document must not be sent. `reason` is the sentence for the receipt and the log.

    A `Rejected` like pre-flight's, so the pipeline files every refusal in one place; `decisions` are the
    per-number verdicts `faxdropd explain` shows.
    """

    def __init__(self, reason: str, decisions: Sequence[NumberDecision] = ()) -> None:
        super().__init__(reason)
        self.decisions = list(decisions)

    def explain_lines(self) -> list[str]:
        return [f"rejected: {self.reason}", *(_decision_line(d) for d in self.decisions)]


@dataclass(frozen=True)
class Route:
    """Where and how to send: E.164 numbers (deduplicated, in order), which source named them, the effective
    fax options after sidecar overrides, and the per-number decisions for `faxdropd explain`."""

    numbers: list[str]
    source: str
    decisions: list[NumberDecision]
    options: FaxOptionsLike

    def explain_lines(self) -> list[str]:
        lines = [f"destinations from {self.source}: {', '.join(self.numbers)}"]
        lines += [_decision_line(d) for d in self.decisions]
        lines += [f"  {key}: {getattr(self.options, key, None)!r}" for key in FAX_KEYS]
        return lines


def _decision_line(d: NumberDecision) -> str:
    return f"  {d.raw!r} -> {d.e164 or '-'}: {'ok' if d.ok else 'refused'} ({d.reason})"


def load_sidecar(path: Path) -> dict[str, Any]:
    """Read a `<document>.fax.yaml` control file; any problem raises a Rejection naming the file."""
    try:
        # O_NOFOLLOW: a symlink planted on a share must not make us read some other file.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        if storage_failure(exc):
            raise  # the share is down, the sidecar is not unreadable: the job retries once it is back
        raise Rejection(f"sidecar {path.name} cannot be read: {exc.strerror or exc}") from None
    if len(data) > SIDECAR_MAX_BYTES:
        raise Rejection(f"sidecar {path.name} is larger than {SIDECAR_MAX_BYTES // 1024} KB")
    try:
        # The config's dialect: a key given twice ("to:" twice) is an error, not "the last one wins".
        loaded = load_yaml(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejection(f"sidecar {path.name} is not valid UTF-8 YAML: {str(exc).splitlines()[0]}") from None
    except ConfigError as exc:
        raise Rejection(f"sidecar {path.name} is not valid UTF-8 YAML: {exc}") from None
    if not isinstance(loaded, dict) or not all(isinstance(k, str) for k in loaded):
        raise Rejection(f"sidecar {path.name} must be a mapping with keys 'to', 'fax' and/or 'notify'")
    return cast(dict[str, Any], loaded)


def _sidecar_numbers(sidecar: Mapping[str, Any]) -> list[str] | Rejection:
    to = sidecar.get("to")
    if to is None:
        return []
    items = [to] if isinstance(to, str) else to
    if not isinstance(items, list) or not all(isinstance(n, str) for n in items):
        # YAML reads an unquoted 0044… or +1… as an integer and loses the prefix: insist on strings.
        return Rejection("sidecar 'to' must be a quoted number or a list of quoted numbers")
    return list(items)


def sidecar_notify(sidecar: Mapping[str, Any]) -> list[str] | Rejection:
    """The addresses a sidecar's `notify:` asks to tell about its own document."""
    given = sidecar.get("notify")
    items = [] if given is None else [given] if isinstance(given, str) else given
    if not isinstance(items, list) or not all(isinstance(a, str) and "@" in a and " " not in a for a in items):
        return Rejection("sidecar 'notify' must be an e-mail address or a list of them")
    return [a.strip() for a in items]


def _notify_refusal(sidecar: Mapping[str, Any], domains: Sequence[str]) -> Rejection | None:
    # A hot folder must not be a way to make the server mail arbitrary addresses.
    found = sidecar_notify(sidecar)
    if isinstance(found, Rejection):
        return found
    outside = [a for a in found if not any(a.lower().endswith(("@" + d, "." + d)) for d in domains)]
    if outside:
        allowed = ", ".join(domains) or "none (notify.allow_domains is empty)"
        return Rejection(f"sidecar notify {', '.join(outside)} is outside the allowed domains: {allowed}")
    return None


def _check_value(key: str, value: Any, hot: Path) -> str | Any:
    """The validated value, or raise ValueError with a sentence."""
    if key in _CHOICES:
        if value not in _CHOICES[key]:
            raise ValueError(f"must be one of {', '.join(_CHOICES[key])}")
    elif key in _TEXT_KEYS:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if key == "csid" and len(value) > CSID_MAX:
            raise ValueError(f"must be at most {CSID_MAX} characters")
    elif key == "retries":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
            raise ValueError("must be a whole number from 0 to 10")
    elif key == "cover_page" and value is not None:
        return _inside(value, hot)
    return value


def _inside(value: Any, hot: Path) -> Path:
    """A sidecar path, resolved against the hot folder, that must stay inside it (symlinks included)."""
    if not isinstance(value, str) or not value or "\x00" in value:
        raise ValueError("must be a file name inside the hot folder")
    try:
        root = hot.resolve()
        target = (root / value).resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops, names too long
        raise ValueError(f"{value!r} cannot be resolved: {exc}") from exc
    if target == root or not target.is_relative_to(root):
        raise ValueError(f"{value!r} is outside the hot folder")
    return target


def apply_overrides(options: FaxOptionsLike, overrides: Any, hot: Path) -> FaxOptionsLike | Rejection:
    """The folder's options with a sidecar's `fax` mapping applied, validated key by key."""
    if overrides is None:
        return options
    if not isinstance(overrides, dict):
        return Rejection("sidecar 'fax' must be a mapping of fax options")
    unknown = sorted(str(k) for k in overrides if k not in FAX_KEYS)
    if unknown:
        known = ", ".join(FAX_KEYS)
        return Rejection(f"sidecar fax has unknown option(s) {', '.join(unknown)}; known: {known}")
    checked: dict[str, Any] = {}
    for key, value in overrides.items():
        try:
            checked[key] = _check_value(key, value, hot)
        except ValueError as exc:
            return Rejection(f"sidecar fax.{key}: {exc}")
    return _rebuild(options, checked)


def _rebuild(options: FaxOptionsLike, changes: dict[str, Any]) -> FaxOptionsLike | Rejection:
    # Re-validate through the config model itself, so a sidecar obeys exactly the rules of the YAML config
    # (send_window strings, csid length, ...). Dataclass stand-ins (tests) are rebuilt with replace().
    model_validate = getattr(type(options), "model_validate", None)
    try:
        if model_validate is not None:
            current = {k: getattr(options, k) for k in FAX_KEYS}
            return cast(FaxOptionsLike, model_validate({**current, **changes}))
        return cast(FaxOptionsLike, dataclasses.replace(cast(Any, options), **changes))
    except (ValueError, TypeError) as exc:  # pydantic.ValidationError is a ValueError
        errors = getattr(exc, "errors", None)
        if callable(errors):  # pydantic: name the key like config errors do ("fax.send_window: ...")
            problems = [f"fax.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors()[:3]]
            return Rejection(f"sidecar {'; '.join(problems)}")
        return Rejection(f"sidecar fax options are invalid: {exc}")


def route(
    document_name: str, folder: FolderLike, sidecar: dict[str, Any] | None, *, notify_domains: Sequence[str] = ()
) -> Route:
    """Decide the destinations and options of one document; bad input raises a Rejection, nothing else.

    `notify_domains` (notify.allow_domains) bounds the recipients a sidecar's `notify:` may add."""
    if sidecar is not None and (refused := _notify_refusal(sidecar, notify_domains)) is not None:
        raise refused
    decided = _route(document_name, folder, sidecar)
    if isinstance(decided, Rejection):
        raise decided
    return decided


def _route(document_name: str, folder: FolderLike, sidecar: dict[str, Any] | None) -> Route | Rejection:
    use_sidecar = sidecar is not None and "sidecar" in folder.to_from
    options: FaxOptionsLike = folder.fax
    if use_sidecar and sidecar is not None:
        unknown = sorted(str(k) for k in sidecar if k not in SIDECAR_KEYS)
        if unknown:  # a typo such as "too:" must not silently fall back to the folder's number
            return Rejection(f"sidecar has unknown key(s) {', '.join(unknown)}; known: fax, notify, to")
        applied = apply_overrides(folder.fax, sidecar.get("fax"), folder.path)
        if isinstance(applied, Rejection):
            return applied
        options = applied
    for source in folder.to_from:
        raw: list[str] | Rejection
        if source == "sidecar":
            raw = _sidecar_numbers(sidecar) if use_sidecar and sidecar is not None else []
        elif source == "filename":
            found = numbers_in_name(document_name)
            if found:  # a marker or number-like token that is no number rejects: never the folder's number
                return _decide_name(found, folder, options)
            raw = []
        elif source == "folder":
            raw = list(folder.to)
        else:
            return Rejection(f"unknown destination source {source!r} in to_from")
        if isinstance(raw, Rejection):
            return raw
        if raw:
            return _decide(raw, source, folder, options)
    return Rejection(
        f"no destination: none of {', '.join(folder.to_from) or 'no sources'} names a number for {document_name!r}"
    )


def _decide(raw: list[str], source: str, folder: FolderLike, options: FaxOptionsLike) -> Route | Rejection:
    decisions = [normalise(n, folder.region, list(folder.allow), list(folder.deny)) for n in raw]
    refused = [d for d in decisions if not d.ok]
    if refused:
        # One bad number rejects the whole broadcast: a partial send is harder to notice than a failure.
        why = "; ".join(f"{d.raw!r}: {d.reason}" for d in refused)
        return Rejection(f"destination refused ({source}): {why}", decisions)
    numbers = list(dict.fromkeys(d.e164 for d in decisions if d.e164 is not None))
    return Route(numbers=numbers, source=source, decisions=decisions, options=options)


def _decide_name(found: list[NameNumber], folder: FolderLike, options: FaxOptionsLike) -> Route | Rejection:
    decided = _decide([f.text for f in found], "filename", folder, options)
    if not isinstance(decided, Rejection):
        return decided
    unreadable = [(f, d) for f, d in zip(found, decided.decisions, strict=True) if d.rule == INVALID]
    if not unreadable:  # valid numbers refused by deny/allow: that reason already names the number
        return decided
    why = "; ".join(f"file name says {f.quoted}, which is not a fax number ({d.reason})" for f, d in unreadable)
    return Rejection(why, decided.decisions)
