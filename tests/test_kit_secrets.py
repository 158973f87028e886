"""The secret scan (tests/kit/secrets.py) finds every form of a password it claims to: the redaction tests
only ever assert that it found nothing, so a scan that went blind would let them pass."""

from __future__ import annotations

import base64
import json
import urllib.parse
from pathlib import Path
from xml.sax.saxutils import escape

from kit.secrets import files_under, needles, scan

SECRET = "W1re&<Pa55>+/='x"


def test_every_form_of_the_secret_is_found_where_it_is(tmp_path: Path) -> None:
    leaked = {
        "plain": SECRET.encode(),
        "url": urllib.parse.quote(SECRET, safe="").encode(),
        "form": urllib.parse.quote_plus(SECRET).encode(),
        "xml": escape(SECRET).encode(),
        "json log": json.dumps({"password": escape(SECRET)}).encode(),
        "basic auth": b"Authorization: Basic " + base64.b64encode(f"demo:{SECRET}".encode()),
        "unpadded": base64.urlsafe_b64encode(SECRET.encode()).rstrip(b"="),
    }
    for name, data in leaked.items():
        (tmp_path / name).write_bytes(b"before " + data + b" after")
    (tmp_path / "clean").write_bytes(b"Password>***<")
    (tmp_path / "link").symlink_to(tmp_path / "plain")  # read once, through its own name
    found = {Path(name).name for name, _needle in scan(files_under(tmp_path), [SECRET], "demo")}
    assert found == set(leaked)
    assert scan({"other user": base64.b64encode(f"root:{SECRET}".encode())}, [SECRET], "demo") == []
    assert all(SECRET.encode() != n for n in needles("other", "demo"))
