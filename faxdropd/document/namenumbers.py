"""Which text of a file name is a fax number, as people write them.

Two forms, checked on the name without its extension (`PurePath.stem`):

* `fax=` markers (case-insensitive, at the start or after a space or `_`). A marker's number is the text
  after `fax=` up to the end of the stem, the first `_`, or the first space followed by a letter; so
  `invoice fax=+1 (212) 555-0100.pdf` reads "+1 (212) 555-0100" and `fax=12125550100 final.pdf` reads
  "12125550100". Every marker counts (a broadcast); when a name has markers, nothing else in it is read.
* a leading token: the run of digits, spaces, dots, dashes and parentheses (a `+` may open it) at the very
  start of the stem, trailing separators trimmed. It is number-like when it holds a digit and either opens
  with `+` or `(`, or holds at least `MIN_TOKEN_DIGITS` digits and is not a date (`YYYYMMDD`, `YYYY-MM-DD`,
  `YYYY.MM.DD`, optionally followed by a time `HHMM[SS]` / `HH-MM[-SS]` / `HH.MM[.SS]`, as scanners write).
  `2024 report.pdf`, `1043-invoice.pdf`, `invoice-1043.pdf`, `scan0001.pdf`, `2024-01-15 scan.pdf` and
  `20240115_093012.pdf` have no number-like token.

What is read is returned verbatim; whether it is a number is for `faxnumbers.normalise`, and the caller
rejects a marker or number-like token that is not one (never the folder's number instead: a wrong recipient
is the worst outcome a fax daemon can have). A token such as `12345678 order.pdf` is therefore rejected, not
routed to the folder. phonenumbers' `PhoneNumberMatcher` is deliberately not used: it searches free text and
skips what it cannot read, where a file name must either say exactly one thing or be refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

MIN_TOKEN_DIGITS = 7  # a local number without area code; dates are excluded by shape, not by length

_MARKER = re.compile(r"(?:^|(?<=[\s_]))fax=(.*?)(?=_|\s+[^\W\d_]|$)", re.IGNORECASE)
_LEADING = re.compile(r"[+(0-9][0-9 \t.()\-]*")
_DATE = re.compile(
    r"(?:19|20)\d\d(?P<s>[-.]?)(?:0[1-9]|1[0-2])(?P=s)(?:0[1-9]|[12]\d|3[01])"
    r"(?:[ T.\-]?(?:[01]\d|2[0-3])(?P<t>[-.]?)[0-5]\d(?:(?P=t)[0-5]\d)?)?"
)
_TRIM = " \t.-"


@dataclass(frozen=True)
class NameNumber:
    """Text of the file name read as a destination: `text` goes to normalise, `quoted` into reasons."""

    text: str
    quoted: str


def numbers_in_name(document_name: str) -> list[NameNumber]:
    """Every `fax=` marker's text, else the number-like leading token, else nothing."""
    stem = PurePath(document_name).stem
    markers = [m.group(1).strip() for m in _MARKER.finditer(stem)]
    if markers:
        return [NameNumber(text, f"fax={text}") for text in markers]
    token = leading_token(stem)
    return [] if token is None else [NameNumber(token, token)]


def leading_token(stem: str) -> str | None:
    match = _LEADING.match(stem)
    if match is None:
        return None
    token = match.group(0).rstrip(_TRIM)
    digits = sum(ch.isdigit() for ch in token)
    if digits == 0:
        return None
    if token[0] in "+(":
        return token
    if digits < MIN_TOKEN_DIGITS or _DATE.fullmatch(token):
        return None
    return token
