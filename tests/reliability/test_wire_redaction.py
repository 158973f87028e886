"""T13 end to end: redaction holds when the password is on the wire and the wire is logged.

The real daemon runs with debug logging and FAXDROPD_WIRE_DEBUG=1 (zeep and urllib3 at DEBUG, http.client's
debug output routed to logging), so every SOAP envelope it sends, password included, reaches the log
handler. After inline and chunked sends, the daemon's whole output and every file under its state dir and
folders are scanned for the password in plain, base64, URL-encoded and XML-escaped forms. The test also
asserts the wire was logged, so it cannot pass because nothing was printed.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from daemonkit import DaemonProcess, drop, receipts, wait_for
from kit.secrets import files_under, needles, scan

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer
from reliability.rig import debug_config

pytestmark = pytest.mark.reliability

USERNAME = "demo"


def test_the_password_on_the_wire_never_reaches_the_log_or_disk(tmp_path: Path) -> None:
    # XML-, URL- and base64-sensitive characters, so each encoding differs from the plain form.
    password = f"W1re&<Pa55>+/={uuid.uuid4().hex[:8]}"
    emulator = EmulatorServer(username=USERNAME, password=password, store=tmp_path / "emulator", status_delay=0.2)
    emulator.start()
    root = tmp_path / "run"
    cfg, hot = debug_config(root, emulator.url)
    env = {"FAXDROPD_TEST_PASSWORD": password, "FAXDROPD_WIRE_DEBUG": "1"}
    daemon = DaemonProcess(cfg, root / "daemon.log", env=env)
    try:
        daemon.start()
        drop(hot, "inline-1.pdf", make_sample_pdf(text="inline one"))
        drop(hot, "inline-2.txt", b"a short text fax\n")
        drop(hot, "chunked.pdf", make_sample_pdf(text="chunked", pad_to=300_000))
        wait_for(lambda: len(receipts(hot / "sent")) == 3, 90, what="three faxes sent")
        assert daemon.stop() == 0
    finally:
        daemon.kill()
        emulator.stop()
    subs = emulator.emulator.ledger()["submissions"]
    assert len(subs) == 3 and any(s["session_id"] for s in subs), "one send must be a chunked upload"

    log = daemon.log_text()
    # The wire really was logged: SOAP envelopes (zeep) and the raw HTTP request (http.client).
    assert "SendfaxEx_2" in log and "UploadFileChunk" in log, "zeep wire debugging produced no envelopes"
    assert "send: b'POST " in log, "http.client wire debugging produced no request lines"

    files = files_under(root)
    hits = scan(files, [password], USERNAME)
    wire_lines = sum(1 for line in log.splitlines() if "SendfaxEx_2" in line or "send: b'" in line)
    figure = {
        "test": "wire_redaction",
        "faxes": len(subs),
        "wire_log_lines": wire_lines,
        "files_scanned": len(files),
        "encodings": len(needles(password, USERNAME)),
        "hits": len(hits),
    }
    print("\nFIGURE " + json.dumps(figure))
    assert hits == [], hits
    assert "Password>***<" in log, "the masked password element is missing from the log, so nothing was proven"
