"""The console's JSON (faxdropd/jsontext.py): the standard library's text, in C; what orjson refuses still prints."""

from __future__ import annotations

import json
import os

from faxdropd.jsontext import pretty


def test_the_text_is_what_json_dumps_indent_2_gives() -> None:
    value = [{"kind": "job", "to": ["+12125550100"], "age_seconds": 12.5, "held": False, "reason": None}, {}]
    assert pretty(value) == json.dumps(value, indent=2)


def test_a_file_name_that_is_not_utf8_falls_back_to_escapes() -> None:
    name = os.fsdecode(b"scan-\xff.pdf")  # lone surrogate: orjson refuses it
    text = pretty({"file": name, "transaction_id": 2**70})
    assert json.loads(text) == {"file": name, "transaction_id": 2**70}
    assert "\\udcff" in text
