"""The zeep client against the emulator over real HTTP: every operation, every error class, every fault."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from daemonkit import PASSWORD, ledger
from daemonkit import arm_fault as fault

from faxdropd.errors import (
    AccountError,
    OutcomeUnknown,
    PermanentError,
    RateLimited,
    TransientError,
    UploadSessionError,
)
from faxdropd.interfax import upload
from faxdropd.interfax.client import ClientFactory, ClientSettings, InterfaxClient

ASAP = datetime(2001, 12, 31, tzinfo=UTC)


def fields(subject: str = "test", numbers: str = "+12125550100", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "FaxNumbers": numbers,
        "Contacts": "",
        "Postpone": ASAP,
        "RetriesToPerform": 2,
        "CSID": "faxdropd",
        "PageHeader": "N",
        "JobID": subject,
        "Subject": subject,
        "ReplyAddress": "",
        "PageSize": "A4",
        "PageOrientation": "Portrait",
        "IsHighResolution": False,
        "IsFineRendering": True,
    }
    return {**base, **extra}


def make_client(
    emulator: Any, *, password: str = PASSWORD, timeout: float = 5.0, version: str = "1.1"
) -> InterfaxClient:
    settings = ClientSettings(
        url=emulator.url, username="demo", password=password, timeout=timeout, connect_timeout=2.0, soap_version=version
    )
    return ClientFactory(settings).client()


def part(data: bytes, file_type: str = "PDF") -> upload.Part:
    def chunks(size: int) -> Iterator[bytes]:
        stream = io.BytesIO(data)
        while block := stream.read(size):
            yield block

    return upload.Part(file_type, len(data), chunks)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_inline_send_and_query(emulator: Any, version: str) -> None:
    client = make_client(emulator, version=version)
    doc = b"%PDF-1.4 tiny"
    tid = upload.submit(client, [part(doc)], fields("ref-inline"), upload.UploadLimits())
    assert tid > 0
    [sub] = ledger(emulator)["submissions"]
    assert sub["reference"] == "ref-inline"
    assert sub["sha256"] == hashlib.sha256(doc).hexdigest()
    assert sub["session_id"] in (None, "")
    [item] = client.query_ids([tid])
    assert item.transaction_id == tid and item.subject == "ref-inline"


def test_chunked_upload_of_20_mb(emulator: Any) -> None:
    client = make_client(emulator, timeout=30)
    doc = b"%PDF-1.4\n" + bytes(range(256)) * (20 * 1024 * 1024 // 256 - 1)
    assert len(doc) <= 20 * 1024 * 1024
    seen: list[int] = []
    tid = upload.submit(
        client,
        [part(doc)],
        fields("ref-big"),
        upload.UploadLimits(chunk_size=200_000),
        progress=lambda done, total: seen.append(done),
    )
    assert tid > 0
    led = ledger(emulator)
    [sub] = led["submissions"]
    assert sub["sha256"] == hashlib.sha256(doc).hexdigest()
    assert sub["session_id"]
    assert [u["state"] for u in led["uploads"]] == ["used"]
    assert seen[-1] == len(doc) and len(seen) == -(-len(doc) // 200_000)


def test_cover_page_goes_first(emulator: Any) -> None:
    client = make_client(emulator)
    cover, body = b"cover page text", b"%PDF-1.4 body"
    upload.submit(client, [part(cover, "TXT"), part(body)], fields("ref-cover"), upload.UploadLimits())
    [sub] = ledger(emulator)["submissions"]
    assert sub["file_types"] == ["TXT", "PDF"]
    assert sub["document_sha256"] == [hashlib.sha256(cover).hexdigest(), hashlib.sha256(body).hexdigest()]


def test_over_20_mb_is_permanent(emulator: Any) -> None:
    client = make_client(emulator, timeout=30)
    doc = b"x" * (20 * 1024 * 1024 + 1)
    with pytest.raises(PermanentError) as info:
        upload.submit(client, [part(doc)], fields(), upload.UploadLimits(chunk_size=3_000_000))
    assert info.value.code == -1063
    assert ledger(emulator)["submissions"] == []


def test_wrong_password_is_account_wide(emulator: Any) -> None:
    client = make_client(emulator, password="wrong")
    with pytest.raises(AccountError) as info:
        client.start_upload()
    assert info.value.code == -1003


def test_permanent_result_code(emulator: Any) -> None:
    client = make_client(emulator)
    with pytest.raises(PermanentError) as info:
        client.send_fax(fields(numbers=""), b"abc", ["TXT"], "3")
    assert info.value.code == -112


def test_unknown_session_restarts(emulator: Any) -> None:
    client = make_client(emulator)
    with pytest.raises(UploadSessionError):
        client.upload_chunk("no-such-session", b"abc", True)


def test_minus_150_on_send_is_outcome_unknown(emulator: Any) -> None:
    client = make_client(emulator)
    fault(emulator, op="SendfaxEx_2", kind="error", code=-150)
    with pytest.raises(OutcomeUnknown):
        client.send_fax(fields(), b"abc", ["TXT"], "3")


def test_minus_150_elsewhere_is_transient(emulator: Any) -> None:
    client = make_client(emulator)
    fault(emulator, op="StartFileUpload", kind="error", code=-150)
    with pytest.raises(TransientError) as info:
        client.start_upload()
    assert not isinstance(info.value, OutcomeUnknown)


def test_rate_limit(emulator: Any) -> None:
    client = make_client(emulator)
    for _ in range(6):
        client.query_ids([1])
    with pytest.raises(RateLimited):
        client.query_ids([1])


@pytest.mark.parametrize("kind", ["reset_after_accept", "http500_after_accept", "truncate", "hang_after_accept"])
def test_send_faults_after_accept_are_unknown(emulator: Any, kind: str) -> None:
    client = make_client(emulator, timeout=1.0)
    fault(emulator, op="SendfaxEx_2", kind=kind, seconds=3)
    with pytest.raises(OutcomeUnknown):
        client.send_fax(fields("ref-amb"), b"abc", ["TXT"], "3")
    assert [s["reference"] for s in ledger(emulator)["submissions"]] == ["ref-amb"]


@pytest.mark.parametrize("kind", ["reset", "http500"])
def test_send_faults_before_accept_are_unknown_and_nothing_exists(emulator: Any, kind: str) -> None:
    client = make_client(emulator)
    fault(emulator, op="SendfaxEx_2", kind=kind)
    with pytest.raises(OutcomeUnknown):
        client.send_fax(fields("ref-none"), b"abc", ["TXT"], "3")
    assert ledger(emulator)["submissions"] == []
    since = datetime.now(UTC) - timedelta(hours=1)
    assert client.query_reference("ref-none", since) == []


def test_timeout_is_transient_for_non_sending_calls(emulator: Any) -> None:
    client = make_client(emulator, timeout=0.5)
    fault(emulator, op="StartFileUpload", kind="latency", seconds=2)
    with pytest.raises(TransientError):
        client.start_upload()
    # Had the client waited for the 2 s reply, the call would have succeeded: the TransientError is the proof.


def test_chunk_fault_restarts_the_whole_session(emulator: Any) -> None:
    client = make_client(emulator, timeout=1.0)
    doc = bytes(1_000_000)
    fault(emulator, op="UploadFileChunk", kind="reset", after=2)
    tid = upload.submit(
        client, [part(doc)], fields("ref-retry"), upload.UploadLimits(chunk_size=200_000, inline_max_bytes=1000)
    )
    assert tid > 0
    states = [u["state"] for u in ledger(emulator)["uploads"]]
    assert states == ["cancelled", "used"]
    [sub] = ledger(emulator)["submissions"]
    assert sub["sha256"] == hashlib.sha256(doc).hexdigest()


def test_query_reference_and_cancel(emulator: Any) -> None:
    client = make_client(emulator)
    tid = client.send_fax(fields("ref-q", numbers="+12125550100;+12125550101"), b"abc", ["TXT"], "3")
    items = client.query_reference("%ref-q%", datetime.now(UTC) - timedelta(hours=1), like=True)
    assert len(items) == 2 and {i.parent_id for i in items} == {tid}
    client.cancel_fax(tid)


def test_connection_refused_is_transient() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    settings = ClientSettings(url=f"http://127.0.0.1:{port}/dfs.asmx", username="u", password="p", connect_timeout=1)
    client = ClientFactory(settings).client()
    with pytest.raises(TransientError) as info:
        client.send_fax(fields(), b"abc", ["TXT"], "3")
    assert not isinstance(info.value, OutcomeUnknown)


def test_password_never_logged(emulator: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    from faxdropd import log as logmod

    logmod.configure("json", "debug")
    logging.getLogger().setLevel(logging.DEBUG)
    client = make_client(emulator)
    upload.submit(client, [part(bytes(300_000))], fields("ref-log"), upload.UploadLimits(inline_max_bytes=1000))
    with pytest.raises(AccountError):
        make_client(emulator, password=PASSWORD + "x").start_upload()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text


def test_a_document_travels_beside_zeeps_tree(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """zeep renders a short stand-in; the document's base64 takes its place only in the bytes that are sent."""
    from faxdropd.interfax import transport

    texts: list[int] = []
    render = transport.etree_to_string

    def seen(envelope: Any) -> bytes:
        texts.append(max(len(node.text or "") for node in envelope.iter()))
        return render(envelope)

    monkeypatch.setattr(transport, "etree_to_string", seen)
    client = make_client(emulator)
    doc = bytes(range(256)) * 400  # 100 KB
    upload.submit(client, [part(doc)], fields("ref-beside"), upload.UploadLimits())
    upload.submit(client, [part(doc)], fields("ref-chunks"), upload.UploadLimits(chunk_size=40_000, inline_max_bytes=1))
    assert [s["sha256"] for s in ledger(emulator)["submissions"]] == [hashlib.sha256(doc).hexdigest()] * 2
    assert len(texts) == 1 + 1 + 3 + 1  # SendfaxEx_2; StartFileUpload, 3 chunks, SendfaxEx_2
    assert max(texts) < 100  # no text node in zeep's tree held (a chunk of) the document


def test_a_request_whose_stand_in_is_not_there_once_is_not_sent(emulator: Any) -> None:
    client = make_client(emulator)
    stand_in = client._transport._stand_in_text.decode()  # the collision is what is tested
    with pytest.raises(TransientError) as info:
        client.send_fax(fields(f"ref {stand_in}"), b"abc", ["TXT"], "3")  # also in the subject and job id
    assert not isinstance(info.value, OutcomeUnknown) and "3 times" in str(info.value)
    with pytest.raises(TransientError) as info, client._transport.beside(b"abc"):
        client.query_ids([1])  # a request without the field: no place for the document
    assert "0 times" in str(info.value)
    assert ledger(emulator)["submissions"] == [] and ledger(emulator)["calls"] == []  # nothing reached it
