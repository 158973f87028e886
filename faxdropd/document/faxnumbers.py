"""Destination numbers: parse, normalise to E.164, then apply the folder's deny and allow globs.

Anyone who can write to a hot folder can make the daemon dial whatever it accepts, so this module is a
guard, not a convenience: every path ends in a `NumberDecision`, a refusal always carries a sentence, and no
input string can make it raise.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers

MAX_DIGITS = 20  # more than any dialable number plus an international prefix; beyond is garbage or abuse
MAX_CHARS = 64  # bounds the work done on hostile file names before phonenumbers sees them
FULLWIDTH_PLUS = "\uff0b"
INVALID = "invalid"
NOT_ALLOWED = "not-allowed"

_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
# Digits and the separators people really type. Letters are refused outright: phonenumbers would read
# "1-800-FLOWERS" as a vanity number and "ext. 5" as an extension, neither of which a file name should do.
_SHAPE = re.compile(r"\+?[0-9 \t.()\-]+")


@dataclass(frozen=True)
class NumberDecision:
    """The fate of one destination.

    `rule` is the allow or deny pattern that decided, "invalid" (not a usable number) or "not-allowed"
    (valid, but no allow pattern matches); `reason` is a sentence for receipts and `faxdropd explain`.
    """

    raw: str
    e164: str | None
    ok: bool
    reason: str
    rule: str


def _probes() -> tuple[str, ...]:
    # Every shape a pass-through number can take: leading digit 1-9, 2..15 digits, varied fill digits.
    out = [
        f"+{first}{fill * (length - 1)}"
        for first in "123456789"
        for length in (2, 3, 5, 8, 11, 15)
        for fill in "0123456789"
    ]
    out += ["+1234567890", "+99999996017", "+987654321012345", "+10", "+90"]
    return tuple(out)


_PROBES = _probes()


@functools.lru_cache(maxsize=512)
def is_catch_all(pattern: str) -> bool:
    """True when `pattern` matches every number ("+*", "*", "+[1-9]*"): it names none in particular."""
    return all(fnmatch.fnmatchcase(p, pattern) for p in _PROBES)


def _first_match(number: str, patterns: Sequence[str]) -> str | None:
    return next((p for p in patterns if fnmatch.fnmatchcase(number, p)), None)


def _reject(raw: str, reason: str, rule: str = INVALID, e164: str | None = None) -> NumberDecision:
    return NumberDecision(raw=raw, e164=e164, ok=False, reason=reason, rule=rule)


def _ascii_digits(text: str) -> str:
    """Map Unicode decimal digits (full-width, Arabic-Indic, ...) and the full-width plus to ASCII."""
    out = []
    for ch in text:
        value = unicodedata.decimal(ch, None)
        out.append("+" if ch == FULLWIDTH_PLUS else str(value) if value is not None else ch)
    return "".join(out)


def _passthrough(text: str, digits: str, region: str) -> str:
    """The "+" and digits form of a number phonenumbers will not vouch for, international prefix removed."""
    if text.startswith("+"):
        return "+" + digits
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    prefix = getattr(metadata, "international_prefix", None)
    if prefix:
        match = re.match(f"(?:{prefix})", digits)
        if match and match.end() < len(digits):
            return "+" + digits[match.end() :]
    return "+" + digits


def _parse_valid(text: str, region: str) -> str | None:
    """E.164 of a number phonenumbers parses and holds valid, else None (it raises on much garbage)."""
    try:
        parsed = phonenumbers.parse(text, region.upper() or None)
        if not phonenumbers.is_valid_number(parsed):
            return None
        return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    except Exception:  # NumberParseException, and anything else: an unparseable number is just invalid
        return None


def normalise(
    raw: str, region: str, allow: list[str], deny: list[str], *, unicode_digits: bool = False
) -> NumberDecision:
    """Decide one raw destination against `region`, the `allow` globs and the `deny` globs (deny wins).

    Non-ASCII digits (full-width U+FF11, Arabic-Indic U+0661, ...) are refused unless `unicode_digits` is set:
    phonenumbers would convert them, but look-alike digits are how a number that reads one way on screen
    dials another (reliability §3.13: reject rather than convert).
    """
    try:
        return _normalise(raw, region, allow, deny, unicode_digits)
    except Exception as exc:  # the contract is "never raises"; a bug here must still refuse, not crash
        return _reject(str(raw), f"the number could not be checked ({type(exc).__name__})")


def _normalise(
    raw: str, region: str, allow: Sequence[str], deny: Sequence[str], unicode_digits: bool
) -> NumberDecision:
    if not isinstance(raw, str):
        return _reject(repr(raw), "the destination is not text")
    text = raw.strip()
    if not text:
        return _reject(raw, "the destination is empty")
    if len(text) > MAX_CHARS:
        return _reject(raw, f"the destination is longer than {MAX_CHARS} characters")
    if not text.isascii():
        if not unicode_digits:
            return _reject(raw, f"{text!r} holds non-ASCII characters; write the number with 0-9")
        text = _ascii_digits(text)
    if not _SHAPE.fullmatch(text):
        return _reject(
            raw, f"{text!r} holds characters other than digits, spaces, dashes, dots, parentheses and a leading +"
        )
    digits = re.sub(r"[^0-9]", "", text)
    if not digits:
        return _reject(raw, f"{text!r} holds no digits")
    if len(digits) > MAX_DIGITS:
        return _reject(raw, f"{text!r} has {len(digits)} digits, more than {MAX_DIGITS}")

    e164 = _parse_valid(text, region)
    if e164 is None:
        return _decide_passthrough(raw, _passthrough(text, digits, region), region, allow, deny)
    if not _E164.fullmatch(e164):
        # phonenumbers holds some long German numbers valid beyond E.164's 15 digits; InterFAX dials E.164.
        return _reject(raw, f"{e164} is longer than the 15 digits E.164 allows")
    if (pattern := _first_match(e164, deny)) is not None:
        return _reject(raw, f"{e164} is refused by the deny pattern {pattern!r}", pattern, e164)
    if (pattern := _first_match(e164, allow)) is not None:
        return NumberDecision(raw, e164, True, f"{e164} is allowed by {pattern!r}", pattern)
    return _reject(raw, f"{e164} matches no allow pattern ({', '.join(allow) or 'none configured'})", NOT_ALLOWED, e164)


PASSTHROUGH_MIN_DIGITS = 8


def _decide_passthrough(
    raw: str, candidate: str, region: str, allow: Sequence[str], deny: Sequence[str]
) -> NumberDecision:
    # Only an allow pattern that names this number (not a catch-all) vouches for it: that is how the
    # InterFAX simulator numbers (+9999999<code>) get through while typos and garbage do not.
    if (pattern := _first_match(candidate, deny)) is not None:
        return _reject(raw, f"{candidate} is refused by the deny pattern {pattern!r}", pattern)
    explicit = [p for p in allow if not is_catch_all(p)]
    # A broad pattern such as "+1*" must not turn a fragment like "12" into a fax to "+12": a vouched-for
    # number still needs the length of a real one (the simulator numbers have at least 8 digits).
    long_enough = len(candidate) - 1 >= PASSTHROUGH_MIN_DIGITS
    if long_enough and _E164.fullmatch(candidate) and (pattern := _first_match(candidate, explicit)) is not None:
        return NumberDecision(
            raw,
            candidate,
            True,
            f"{candidate} is not a valid number to phonenumbers but the allow pattern {pattern!r} names it",
            pattern,
        )
    where = "" if raw.strip().startswith("+") else f" in region {region!r}"
    return _reject(raw, f"{raw.strip()!r} is not a valid phone number{where}")
