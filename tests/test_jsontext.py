"""The console's JSON (faxdropd/jsontext.py): the standard library's text, in C; what orjson refuses still prints."""

from __future__ import annotations

import json
import os

from faxdropd.jsontext import loads, pretty


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
