"""The InterFAX emulator over real HTTP, driven with hand-written SOAP envelopes and plain `requests`."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from kit._util import wait_until
from lxml import etree

from faxdropd.emulator.server import EmulatorServer
from faxdropd.emulator.soap import validate_response

NS = "http://www.interfax.cc"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
PASSWORD = "pa55-Emul@tor-secret"
TWO_PAGES = b"%PDF-1.4\n1 0 obj<</Type /Pages>>\n2 0 obj<</Type /Page>>\n3 0 obj<</Type/Page>>\n%%EOF"
ASAP = "2001-12-31T00:00:00-00:00"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmulatorServer]:
    with EmulatorServer(password=PASSWORD, store=tmp_path / "store", status_delay=0.3) as running:
        yield running


def admin(server: EmulatorServer, path: str) -> str:
    return server.url.rsplit("/", 1)[0] + "/_emulator/" + path


def ledger(server: EmulatorServer) -> dict[str, Any]:
    response = requests.get(admin(server, "ledger"), timeout=5)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def fault(server: EmulatorServer, **spec: Any) -> dict[str, Any]:
    response = requests.post(admin(server, "faults"), json=spec, timeout=5)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def xml(pairs: list[tuple[str, Any]]) -> str:
    parts = []
    for name, value in pairs:
        if isinstance(value, list):
            value = xml(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        parts.append(f"<{name}>{value}</{name}>")
    return "".join(parts)


def post(
    server: EmulatorServer,
    op: str,
    pairs: list[tuple[str, Any]],
    *,
    version: str = "1.1",
    action: str | None = None,
    timeout: float = 10,
) -> requests.Response:
    env = SOAP11 if version == "1.1" else SOAP12
    body = (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{env}"><soap:Body>'
        f'<{op} xmlns="{NS}">{xml(pairs)}</{op}></soap:Body></soap:Envelope>'
    ).encode()
    action = action if action is not None else f"{NS}/{op}"
    if version == "1.1":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
    else:
        headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
    return requests.post(server.url, data=body, headers=headers, timeout=timeout)


def ok(response: requests.Response) -> Any:
    """A 200 reply whose payload satisfies the WSDL schema, parsed."""
    assert response.status_code == 200, response.text
    assert validate_response(response.content), response.text
    return etree.fromstring(response.content)


def value(root: Any, name: str) -> str:
    found = root.find(f".//{{{NS}}}{name}")
    assert found is not None, f"no {name}"
    return str(found.text)


def creds(password: str = PASSWORD) -> list[tuple[str, Any]]:
    return [("Username", "demo"), ("Password", password)]


def send_pairs(numbers: str, data: bytes, types: str, sizes: str, **extra: Any) -> list[tuple[str, Any]]:
    fields: dict[str, Any] = {
        "FaxNumbers": numbers, "Contacts": "", "FilesData": data, "FileTypes": types, "FileSizes": sizes,
        "Postpone": ASAP, "RetriesToPerform": 2, "CSID": "faxdropd", "PageHeader": "N", "JobID": "job-1",
        "Subject": "ref-1", "ReplyAddress": "", "PageSize": "A4", "PageOrientation": "Portrait",
        "IsHighResolution": False, "IsFineRendering": True,
    }  # fmt: skip
    fields.update(extra)
    return creds(fields.pop("Password", PASSWORD)) + list(fields.items())


def send(server: EmulatorServer, numbers: str, data: bytes, types: str = "PDF", sizes: str = "", **extra: Any) -> int:
    pairs = send_pairs(numbers, data, types, sizes or str(len(data)), **extra)
    return int(value(ok(post(server, "SendfaxEx_2", pairs)), "SendfaxEx_2Result"))


def query_in(server: EmulatorServer, ids: list[int]) -> tuple[int, list[dict[str, str]]]:
    pairs = [
        *creds(),
        ("Verb", "IN"),
        ("VerbData", ",".join(map(str, ids))),
        ("MaxItems", len(ids)),
        ("ResultCode", 0),
    ]
    root = ok(post(server, "FaxQuery", pairs))
    items = [{etree.QName(c).localname: c.text or "" for c in item} for item in root.iter(f"{{{NS}}}FaxItemEx")]
    return int(value(root, "ResultCode")), items


def dont_care() -> list[tuple[str, Any]]:
    return [("Verb", "Equals"), ("VerbData", "")]


def query2(server: EmulatorServer, subject: tuple[str, str], since: datetime, **control: Any) -> Any:
    form = [
        ("Subject", [("Verb", subject[0]), ("VerbData", subject[1])]), ("FaxNumber", dont_care()),
        ("DateFrom", since.isoformat()), ("DateTo", (datetime.now(UTC) + timedelta(minutes=1)).isoformat()),
        ("UserID", dont_care()), ("ReplyAddress", dont_care()), ("TransactionID", dont_care()),
        ("ParentTransactionID", dont_care()), ("Status", dont_care()), ("ShowHiddenTransactions", True),
    ]  # fmt: skip
    ctl = {"OnlyParents": False, "NumOfResults": 100, "StartingRecord": 0, "OrderBy": "TransactionID",
           "AscOrderDirection": True, "ReturnItems": True, "ReturnStats": False, **control}  # fmt: skip
    pairs = [*creds(), ("QueryForm", form), ("QueryControl", list(ctl.items()))]
    return ok(post(server, "FaxQuery2", pairs))


def test_wsdl_is_served_with_this_servers_address(server: EmulatorServer) -> None:
    for query in ("WSDL", "wsdl"):
        response = requests.get(f"{server.url}?{query}", timeout=5)
        assert response.status_code == 200
        root = etree.fromstring(response.content)
        locations = {a.get("location") for a in root.iter() if etree.QName(a).localname == "address"}
        assert locations == {server.url}


def test_wrong_password_then_blocked_for_an_hour(server: EmulatorServer) -> None:
    for _ in range(5):
        assert value(ok(post(server, "StartFileUpload", creds("wrong"))), "StartFileUploadResult") == "-1003"
    # Now even the right password is refused: the account is locked.
    assert value(ok(post(server, "StartFileUpload", creds())), "StartFileUploadResult") == "-1876"


def test_chunked_upload_then_send_by_session(server: EmulatorServer, tmp_path: Path) -> None:
    root = ok(post(server, "StartFileUpload", creds()))
    assert value(root, "StartFileUploadResult") == "0"
    session = value(root, "SessionID")
    cover, body = b"cover text", TWO_PAGES
    whole = cover + body
    totals = []
    for i in range(0, len(whole), 40):
        chunk = whole[i : i + 40]
        reply = post(
            server,
            "UploadFileChunk",
            [("SessionID", session), ("Chunk", chunk), ("IsLast", i + 40 >= len(whole))],
        )
        totals.append(int(value(ok(reply), "UploadFileChunkResult")))
    assert totals[-1] == len(whole) and totals == sorted(totals)
    tid = send(server, "+12125550100", b"", "TXT;PDF", f"{len(cover)};{len(body)}/sessionID={session}")
    assert tid > 0
    led = ledger(server)
    assert led["uploads"] == [{"session_id": session, "bytes": 0, "chunks": len(totals), "state": "used"}]
    [sub] = led["submissions"]
    assert sub["session_id"] == session and sub["file_sizes"] == [len(cover), len(body)]
    assert sub["sha256"] == hashlib.sha256(whole).hexdigest()
    assert (tmp_path / "store" / str(tid) / "1.txt").read_bytes() == cover
    assert (tmp_path / "store" / str(tid) / "2.pdf").read_bytes() == body
    # Single use: the session is gone for a second fax and for more chunks.
    assert send(server, "+12125550100", b"", "TXT;PDF", f"{len(cover)};{len(body)}/sessionID={session}") == -1062
    chunk_reply = post(server, "UploadFileChunk", [("SessionID", session), ("Chunk", b"x"), ("IsLast", True)])
    assert value(ok(chunk_reply), "UploadFileChunkResult") == "-1062"


def test_upload_errors_and_limits(server: EmulatorServer) -> None:
    session = value(ok(post(server, "StartFileUpload", creds())), "SessionID")
    empty = post(server, "UploadFileChunk", [("SessionID", session), ("Chunk", b""), ("IsLast", False)])
    assert value(ok(empty), "UploadFileChunkResult") == "-1061"
    unknown = post(server, "UploadFileChunk", [("SessionID", "nope"), ("Chunk", b"x"), ("IsLast", False)])
    assert value(ok(unknown), "UploadFileChunkResult") == "-1062"
    big = post(
        server,
        "UploadFileChunk",
        [("SessionID", session), ("Chunk", bytes(3 * 1024 * 1024 + 1)), ("IsLast", False)],
    )
    assert value(ok(big), "UploadFileChunkResult") == "-1063"
    emu = server.emulator  # 20 MB through the Python API: the HTTP path is the same code
    for _ in range(6):
        assert emu.upload_file_chunk(session, bytes(3 * 1024 * 1024), False) > 0
    assert emu.upload_file_chunk(session, bytes(2 * 1024 * 1024), False) == 20 * 1024 * 1024
    assert emu.upload_file_chunk(session, b"x", True) == -1063
    assert value(ok(post(server, "CancelFileUpload", [("SessionID", session)])), "CancelFileUploadResult") == "0"
    assert value(ok(post(server, "CancelFileUpload", [("SessionID", session)])), "CancelFileUploadResult") == "-1062"
    assert ledger(server)["uploads"][0]["state"] == "cancelled"


@pytest.mark.parametrize(
    ("numbers", "data", "types", "sizes", "extra", "code"),
    [
        ("", b"abc", "TXT", "3", {}, -112),
        ("+12125550100", b"", "TXT", "3", {}, -123),
        ("+12125550100", b"abc", "TXT;PDF", "3", {}, -1002),
        ("+12125550100", b"abc", "TXT", "4", {}, -1008),
        ("+12125550100", b"abc", "TXT", "x", {}, -1007),
        ("+12125550100", b"abc", "", "3", {}, -1004),
        ("+12125550100", b"abc", "TXT", "3/sessionID=nope", {}, -1062),
        (
            "+12125550100",
            b"abc",
            "TXT",
            "3",
            {"Postpone": (datetime.now(UTC) + timedelta(days=31)).isoformat()},
            -114,
        ),
        ("+12125550100", b"abc", "TXT", "3", {"Password": "wrong"}, -1003),
    ],
)
def test_send_result_codes(
    server: EmulatorServer,
    numbers: str,
    data: bytes,
    types: str,
    sizes: str,
    extra: dict[str, Any],
    code: int,
) -> None:
    assert send(server, numbers, data, types, sizes, **extra) == code
    assert ledger(server)["submissions"] == []


def test_inline_broadcast_and_status_progression(server: EmulatorServer, tmp_path: Path) -> None:
    tid = send(server, "+1 (212) 555-0100;+99999996017;011 44 20 7946 0000", TWO_PAGES, Contacts="Ann;Bob")
    ids = [tid, tid + 1, tid + 2]
    code, items = query_in(server, ids)
    assert code == 0 and [int(i["TransactionID"]) for i in items] == ids
    assert all(int(i["Status"]) < 0 for i in items) and {i["ParentTransactionID"] for i in items} == {str(tid)}
    assert [i["DestinationFax"] for i in items] == ["0012125550100", "0099999996017", "00442079460000"]
    assert [i["Contact"] for i in items] == ["Ann", "Bob", ""]
    # status_delay is 0.3 s: wait until every number is final instead of sleeping past it.
    # Read off the emulator's state: each FaxQuery counts against its 6-a-minute budget.
    wait_until(lambda: min(server.emulator.status_of(t) for t in ids) >= 0, 30, what="final statuses")
    _, items = query_in(server, ids)
    assert [int(i["Status"]) for i in items] == [0, 6017, 0]
    first = items[0]
    assert (first["PagesSubmitted"], first["PagesSent"], first["Units"], first["CostPerUnit"]) == (
        "2",
        "2",
        "2",
        "0.06",
    )
    assert first["Subject"] == "ref-1" and first["JobID"] == "job-1" and first["CompletionTime"].endswith("Z")
    assert items[1]["PagesSent"] == "0" and int(items[1]["TrialsPerformed"]) >= 1
    assert (tmp_path / "store" / str(tid + 2) / "1.pdf").read_bytes() == TWO_PAGES


def test_status_codes_in_order(tmp_path: Path) -> None:
    with EmulatorServer(password=PASSWORD, status_delay=0.6, query_limit=100) as running:
        tid = send(running, "+12125550100", b"abc", "TXT")
        seen = []
        # Sampling every status as it changes: the poll interval is far below status_delay / 4; the deadline
        # only ends a broken run, generously.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not seen or seen[-1] < 0):
            status = running.emulator.status_of(tid)
            assert status is not None
            if not seen or seen[-1] != status:
                seen.append(status)
            time.sleep(0.01)
        assert seen == [-1, -2, -3, 0]


def test_soap_12_request_and_fault(server: EmulatorServer) -> None:
    response = post(server, "StartFileUpload", creds(), version="1.2")
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    assert value(ok(response), "StartFileUploadResult") == "0"
    bad = post(server, "UploadFileChunk", [("SessionID", "x"), ("Chunk", b"x")], version="1.2")
    assert bad.status_code == 500
    assert etree.fromstring(bad.content).find(f".//{{{SOAP12}}}Value").text == "soap:Sender"


@pytest.mark.parametrize(
    ("op", "pairs", "action"),
    [
        ("UploadFileChunk", [("SessionID", "x"), ("Chunk", "eA==")], None),  # IsLast missing
        ("UploadFileChunk", [("SessionID", "x"), ("IsLast", "true"), ("Chunk", "eA==")], None),  # wrong order
        (
            "UploadFileChunk",
            [("SessionID", "x"), ("Chunk", "eA=="), ("IsLast", "maybe")],
            None,
        ),  # bad boolean
        ("SendfaxEx_2", send_pairs("+1", b"a", "TXT", "1", Postpone="tomorrow"), None),  # bad dateTime
        ("StartFileUpload", creds(), f"{NS}/SendfaxEx_2"),  # SOAPAction names another operation
        ("NoSuchOperation", [], None),
    ],
)
def test_malformed_requests_are_client_faults(
    server: EmulatorServer, op: str, pairs: list[tuple[str, Any]], action: str | None
) -> None:
    response = post(server, op, pairs, action=action)
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.find(f".//{{{SOAP11}}}Fault/faultcode").text == "soap:Client"
    assert ledger(server)["calls"][-1]["fault"] == "soap:Client"


def test_rate_limit_on_the_seventh_query(tmp_path: Path) -> None:
    with EmulatorServer(password=PASSWORD, query_window=0.5) as running:
        codes = [query_in(running, [1])[0] for _ in range(6)]
        root = query2(running, ("Equals", "x"), datetime.now(UTC) - timedelta(hours=1))  # FaxQuery2 counts too
        assert codes == [0] * 6 and value(root, "ResultCode") == "-1011"
        assert query_in(running, [1])[0] == -1011
        # The window has to pass: elapsed time is what restores the budget, there is no event to wait for.
        time.sleep(0.55)
        assert query_in(running, [1])[0] == 0


def test_fax_query_verbs(server: EmulatorServer) -> None:
    tid = send(server, "+12125550100;+12125550101;+12125550102", b"abc", "TXT")
    pairs = [*creds(), ("Verb", "PARENT"), ("VerbData", str(tid)), ("MaxItems", -1), ("ResultCode", 0)]
    assert len(list(ok(post(server, "FaxQuery", pairs)).iter(f"{{{NS}}}FaxItemEx"))) == 3
    assert query_in(server, list(range(1, 102)))[0] == -1030  # more than 100 ids: refused, not cut
    pairs = [*creds(), ("Verb", "SOME"), ("VerbData", ""), ("MaxItems", 1), ("ResultCode", 0)]
    assert value(ok(post(server, "FaxQuery", pairs)), "ResultCode") == "-1030"


def test_fax_query2_by_subject_window_and_id(server: EmulatorServer) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    tid = send(server, "+12125550100", b"abc", "TXT", Subject="faxdropd:abc123")
    send(server, "+12125550100", b"abc", "TXT", Subject="other")

    def ids(root: Any) -> list[int]:
        return [int(value(i, "TransactionID")) for i in root.iter(f"{{{NS}}}FaxItemEx2")]

    assert ids(query2(server, ("Equals", "faxdropd:abc123"), before)) == [tid]
    assert ids(query2(server, ("Like", "%ABC1%"), before)) == [tid]
    assert ids(query2(server, ("Equals", "faxdropd:abc123"), datetime.now(UTC) + timedelta(seconds=30))) == []
    stats = query2(server, ("Equals", ""), before, ReturnItems=False, ReturnStats=True)
    assert value(stats, "TotalTransactionsNum") == "2" and value(stats, "Count") == "2"
    assert value(query2(server, ("Equals", ""), before, ReturnItems=False), "ResultCode") == "-710"


def test_cancel_fax(server: EmulatorServer) -> None:
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    tid = send(server, "+12125550100", b"abc", "TXT", Postpone=later)
    cancel = [*creds(), ("TransactionID", tid)]
    assert value(ok(post(server, "CancelFax", cancel)), "CancelFaxResult") == "0"
    assert server.emulator.status_of(tid) == 3950
    assert value(ok(post(server, "CancelFax", cancel)), "CancelFaxResult") == "-1005"


SEND = ("+12125550100", b"abc", "TXT", "3")


def test_fault_latency_error_and_schedule(server: EmulatorServer) -> None:
    fault(server, op="StartFileUpload", kind="latency", seconds=0.3)
    started = time.monotonic()
    assert value(ok(post(server, "StartFileUpload", creds())), "StartFileUploadResult") == "0"
    assert time.monotonic() - started >= 0.3  # a lower bound: a slow machine cannot make it fail
    fault(server, op="StartFileUpload", kind="error", code=-150, after=1, count=2)
    results = [value(ok(post(server, "StartFileUpload", creds())), "StartFileUploadResult") for _ in range(4)]
    assert results == ["0", "-150", "-150", "0"]
    fault(server, op="SendfaxEx_2", kind="error", code=-150)
    assert send(server, *SEND) == -150 and ledger(server)["submissions"] == []


@pytest.mark.parametrize("kind", ["reset", "reset_after_accept"])
def test_fault_reset_is_a_connection_error(server: EmulatorServer, kind: str) -> None:
    fault(server, op="SendfaxEx_2", kind=kind)
    with pytest.raises(requests.ConnectionError):
        post(server, "SendfaxEx_2", send_pairs(*SEND))
    assert len(ledger(server)["submissions"]) == (1 if kind == "reset_after_accept" else 0)
    assert send(server, *SEND) > 0  # one call only


def test_fault_truncate_gives_an_unparseable_reply_after_the_work(server: EmulatorServer) -> None:
    fault(server, op="SendfaxEx_2", kind="truncate")
    response = post(server, "SendfaxEx_2", send_pairs(*SEND))
    assert response.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)
    assert len(ledger(server)["submissions"]) == 1


@pytest.mark.parametrize(("kind", "created"), [("http500", 0), ("http500_after_accept", 1)])
def test_fault_http500(server: EmulatorServer, kind: str, created: int) -> None:
    fault(server, op="*", kind=kind)
    response = post(server, "SendfaxEx_2", send_pairs(*SEND))
    assert response.status_code == 500
    assert etree.fromstring(response.content).find(f".//{{{SOAP11}}}Fault/faultcode").text == "soap:Server"
    assert len(ledger(server)["submissions"]) == created


@pytest.mark.parametrize(("kind", "created"), [("hang", 0), ("hang_after_accept", 1)])
def test_fault_hang_times_the_client_out(server: EmulatorServer, kind: str, created: int) -> None:
    fault(server, op="SendfaxEx_2", kind=kind, seconds=0.6)
    with pytest.raises(requests.Timeout):
        post(server, "SendfaxEx_2", send_pairs(*SEND), timeout=0.2)
    assert len(ledger(server)["submissions"]) == created


def test_stop_interrupts_a_hang(tmp_path: Path) -> None:
    running = EmulatorServer(password=PASSWORD).start()
    hang = running.emulator.add_fault("StartFileUpload", "hang")  # default: an hour
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(running, "StartFileUpload", creds(), timeout=30)
        except requests.RequestException as exc:
            errors.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    # The call must be inside the hang before stop(), or the test would prove nothing.
    wait_until(lambda: hang.fired == 1, 30, what="the call hanging in the emulator")
    started = time.monotonic()
    running.stop()
    worker.join(5)
    # stop() must not wait out the client's 30 s timeout; the bound is generous, the point is "not 30 s".
    assert time.monotonic() - started < 15 and not worker.is_alive()
    assert errors and isinstance(errors[0], requests.ConnectionError)


def test_fault_admin_endpoint(server: EmulatorServer) -> None:
    assert requests.post(admin(server, "faults"), json={"kind": "explode"}, timeout=5).status_code == 400
    assert requests.post(admin(server, "faults"), json={"op": "Nope", "kind": "reset"}, timeout=5).status_code == 400
    armed = fault(server, op="FaxQuery", kind="reset", count=2, after=1)
    assert (armed["count"], armed["after"]) == (2, 1)
    assert len(requests.get(admin(server, "faults"), timeout=5).json()) == 1
    assert requests.delete(admin(server, "faults"), timeout=5).status_code == 200
    assert requests.get(admin(server, "faults"), timeout=5).json() == []


def test_ledger_shape_and_no_password(server: EmulatorServer) -> None:
    tid = send(server, "+12125550100;+12125550101", b"abcdef", "TXT;TXT", "2;4", Contacts="A;B", CSID="OFFICE")
    send(server, "+12125550100", b"abc", "TXT", "3", Password="wrong")
    text = requests.get(admin(server, "ledger"), timeout=5).text
    assert PASSWORD not in text and "wrong" not in text
    led = json.loads(text)
    [sub] = led["submissions"]
    assert sub["transaction_ids"] == [tid, tid + 1] and sub["parent_id"] == tid
    assert (sub["reference"], sub["job_id"], sub["numbers"]) == (
        "ref-1",
        "job-1",
        ["+12125550100", "+12125550101"],
    )
    assert sub["contacts"] == ["A", "B"] and sub["file_types"] == ["TXT", "TXT"] and sub["file_sizes"] == [2, 4]
    assert sub["options"] == {
        "Postpone": "2001-12-31T00:00:00.000Z", "RetriesToPerform": 2, "CSID": "OFFICE", "PageHeader": "N",
        "ReplyAddress": "", "PageSize": "A4", "PageOrientation": "Portrait", "IsHighResolution": False,
        "IsFineRendering": True,
    }  # fmt: skip
    assert sub["document_sha256"] == [hashlib.sha256(b"ab").hexdigest(), hashlib.sha256(b"cdef").hexdigest()]
    assert sub["sha256"] == hashlib.sha256(b"abcdef").hexdigest() and sub["session_id"] is None
    assert [(c["op"], c["result"]) for c in led["calls"]] == [("SendfaxEx_2", tid), ("SendfaxEx_2", -1003)]
    assert server.emulator.ledger() == led
    assert requests.post(admin(server, "reset"), timeout=5).status_code == 200
    assert ledger(server) == {"uploads": [], "submissions": [], "calls": [], "peak_in_flight": {}}


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
def test_tls(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    with EmulatorServer(password=PASSWORD, tls_cert=cert, tls_key=key) as running:
        assert running.url.startswith("https://127.0.0.1:")
        body = requests.get(f"{running.url}?WSDL", timeout=5, verify=str(cert)).content
        assert running.url.encode() in body


def test_connections_are_kept_alive_until_the_emulator_stops(server: EmulatorServer) -> None:
    """HTTP/1.1 like InterFAX's IIS: calls share one connection (a body the emulator ignores is skipped);
    a stopped emulator answers nothing more on a connection it had kept open."""
    import http.client
    import socket

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    ports = set()
    for method, path, body in [("GET", "/dfs.asmx?WSDL", None), ("POST", "/nowhere", b"x" * 100), ("GET", "/", None)]:
        conn.request(method, path, body=body)
        reply = conn.getresponse()
        reply.read()
        assert reply.version == 11 and not reply.will_close
        assert conn.sock is not None
        ports.add(conn.sock.getsockname()[1])
    assert len(ports) == 1  # one connection for all three
    # Its reply's body is not held back until the client acknowledges the headers (Nagle, delayed ACK).
    (served,) = server._server._open if server._server else set()
    assert served.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    server.stop()
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        conn.request("GET", "/dfs.asmx?WSDL")
        conn.getresponse()
    conn.close()
