"""faxdropd/jsontext.py: the standard library's text, in C; what orjson refuses or writes otherwise still comes
out as the standard library writes it."""

from __future__ import annotations

import enum
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from faxdropd import jsontext
from faxdropd.jsontext import ascii_pretty, loads, pretty


def test_the_text_is_what_json_dumps_indent_2_gives() -> None:
    value = [{"kind": "job", "to": ["+12125550100"], "age_seconds": 12.5, "held": False, "reason": None}, {}]
    assert pretty(value) == json.dumps(value, indent=2)


def test_a_file_name_that_is_not_utf8_falls_back_to_escapes() -> None:
    name = os.fsdecode(b"scan-\xff.pdf")  # lone surrogate: orjson refuses it
    text = pretty({"file": name, "transaction_id": 2**70})
    assert json.loads(text) == {"file": name, "transaction_id": 2**70}
    assert "\\udcff" in text


def test_loads_reads_what_the_standard_library_reads() -> None:
    # The journal's JSON columns were written by json.dumps: an escaped lone surrogate (a name that is not
    # UTF-8) and NaN are valid to it and refused by orjson, so they must come back through the fallback.
    for text in (json.dumps({"subject": os.fsdecode(b"\xff")}), "[NaN]", '{"numbers": ["+12125550100"], "n": 3}'):
        read = loads(text)
        assert json.dumps(read) == json.dumps(json.loads(text))


def _stdlib(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=True, default=str).encode("ascii")


class Kind(enum.StrEnum):
    FAX = "fax"


class Level(enum.IntEnum):
    HIGH = 3


RECEIPT = {
    "job_id": "j-20261206-abc",
    "to": ["+12125550100"],
    "transaction_ids": [123456789],
    "outcome": "delivered",
    "status": 0,
    "pages_sent": None,
    "deliveries": [{"transaction_id": 123456789, "status": 0, "cost": "0.10", "completed_at": None}],
    "late_originals": [],
    "nested": {"empty": {}, "list": [[], {}]},
    "adopted": True,
}


@pytest.mark.parametrize(
    "value",
    [
        RECEIPT,
        {chr(c): chr(c) * 2 for c in range(128)},  # every ASCII character, as a key and in a value
        ["caf\u00e9", "\u2028", "\U0001f4e0", os.fsdecode(b"scan-\xff.pdf")],  # escaped, or refused by orjson
        [0, -1, 2**63 - 1, 2**63, 2**64, -(2**63), 2**70],
        [0.1, 1e16, 1e-7, float("nan"), float("inf"), 100.0],
        [Decimal("0.10"), datetime(2026, 12, 6, 8, 0, tzinfo=UTC), Path("/srv/fax"), ("a", 1)],
        {"kind": Kind.FAX, "level": Level.HIGH, 1: "an int key"},
        {},
        [],
    ],
)
def test_ascii_pretty_is_byte_for_byte_the_standard_librarys(value: Any) -> None:
    assert ascii_pretty(value) == _stdlib(value)


_LEAVES = st.none() | st.booleans() | st.integers() | st.floats() | st.text()


@given(st.recursive(_LEAVES, lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner), max_leaves=30))
def test_ascii_pretty_agrees_on_any_json_value(value: Any) -> None:
    assert ascii_pretty(value) == _stdlib(value)


def test_a_receipt_is_written_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _stdlib(RECEIPT)

    def refused(*_: object, **__: object) -> str:
        raise AssertionError("the standard library's encoder was used")

    monkeypatch.setattr(jsontext.json, "dumps", refused)
    assert ascii_pretty(RECEIPT) == expected
