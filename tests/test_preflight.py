"""Pre-flight on real files: type sniffing, hostile inputs (symlink, FIFO, hard link), PDFs, streaming."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import zipfile
from pathlib import Path
from typing import Any

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faxdropd.document import preflight, sniff
from faxdropd.document.preflight import NOT_REGULAR, Checked, open_document
from faxdropd.document.sample import make_sample_pdf
from faxdropd.errors import FaxdropError, Rejected


def put(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def check(path: Path, **kwargs: Any) -> Checked:
    with open_document(path, path.parent, **kwargs) as checked:
        return checked


def reason(path: Path, folder: Path | None = None, **kwargs: Any) -> str:
    with pytest.raises(Rejected) as info:
        open_document(path, folder or path.parent, **kwargs)
    assert isinstance(info.value, FaxdropError)
    return info.value.reason


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


def pdf_with_writer(**encrypt: str) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt(**encrypt)  # type: ignore[arg-type]
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

SAMPLES = [
    ("a.pdf", make_sample_pdf(pages=2), "PDF"),
    ("a.PDF", b"junk before the header\n" + make_sample_pdf(), "PDF"),
    ("a.tif", b"II*\x00" + bytes(64), "TIF"),
    ("a.tiff", b"MM\x00*" + bytes(64), "TIF"),
    ("a.png", b"\x89PNG\r\n\x1a\n" + bytes(64), "PNG"),
    ("a.jpeg", b"\xff\xd8\xff\xe0" + bytes(64), "JPG"),
    ("a.docx", docx_bytes(), "DOCX"),
    ("a.doc", OLE + bytes(64), "DOC"),
    ("a.html", b"  <!DOCTYPE HTML>\n<html><body>Hi</body></html>\n", "HTML"),
    ("a.htm", b"<HTML><p>caf\xc3\xa9</p></HTML>", "HTML"),
    ("a.txt", "Grüße\tund\r\n\x0cneue Seite\n".encode(), "TXT"),
    ("latin1.txt", b"caf\xe9 cr\xe8me\n", "TXT"),
    ("README", b"no extension: the content decides\n", "TXT"),
]


@pytest.mark.parametrize(("name", "data", "file_type"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_type_is_sniffed_from_content(tmp_path: Path, name: str, data: bytes, file_type: str) -> None:
    checked = check(put(tmp_path, name, data))
    assert checked.file_type == file_type
    assert checked.size == len(data)
    assert checked.sha256 == hashlib.sha256(data).hexdigest()
    assert checked.pages == (2 if name == "a.pdf" else 1 if file_type == "PDF" else None)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("fake.pdf", b"\x89PNG\r\n\x1a\n" + bytes(100), "content is PNG but the name says .pdf"),
        ("notes.pdf", b"just some text\n", "content is text but the name says .pdf"),
        ("scan.png", make_sample_pdf(), "content is PDF but the name says .png"),
        ("sheet.xls", OLE + bytes(9), "content is DOC but the name says .xls"),
        ("page.txt", b"<!doctype html><html></html>", "content is HTML but the name says .txt"),
    ],
)
def test_extension_must_agree_with_content(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    assert reason(put(tmp_path, name, data)) == expected


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"MZ\x90\x00" + bytes(200), "unsupported content"),
        (b"text with a NUL\x00 inside", "unsupported content"),
        (bytes(range(1, 9)) * 20, "unsupported content"),
        (b"PK\x03\x04" + bytes(100), "ZIP archive that is not a Word document"),
    ],
)
def test_unknown_content_is_rejected(tmp_path: Path, data: bytes, expected: str) -> None:
    assert expected in reason(put(tmp_path, "thing", data))


def test_zip_without_word_document_is_rejected(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    assert "not a Word document" in reason(put(tmp_path, "book.docx", buf.getvalue()))


def test_symlink_is_refused_and_its_target_never_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    canary = put(tmp_path, "canary-secret.pdf", make_sample_pdf(text="CANARY"))
    (hot / "link.pdf").symlink_to(canary)
    opened: list[str] = []
    real_open = os.open

    def spying_open(*args: Any, **kwargs: Any) -> int:
        fd = real_open(*args, **kwargs)
        opened.append(os.readlink(f"/proc/self/fd/{fd}"))
        return fd

    monkeypatch.setattr(os, "open", spying_open)
    assert reason(hot / "link.pdf") == "symbolic links are never followed"
    assert str(canary) not in opened
    assert opened  # the spy did see the folder being opened


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.pdf")
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: outcome.append(_catch(tmp_path / "pipe.pdf")), daemon=True)
    worker.start()
    worker.join(timeout=5)
    assert not worker.is_alive(), "open_document blocked on a FIFO"
    assert isinstance(outcome[0], Rejected) and outcome[0].reason == NOT_REGULAR


def _catch(path: Path) -> BaseException:
    try:
        open_document(path, path.parent)
    except BaseException as exc:
        return exc
    return AssertionError("not rejected")


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "folder.pdf").mkdir()
    assert reason(tmp_path / "folder.pdf") == NOT_REGULAR


def test_hard_link_is_refused(tmp_path: Path) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    outside = put(tmp_path, "outside.pdf", make_sample_pdf())
    os.link(outside, hot / "hard.pdf")
    assert reason(hot / "hard.pdf").startswith("hard-linked file refused")


def test_empty_and_too_big_files_are_refused(tmp_path: Path) -> None:
    assert reason(put(tmp_path, "empty.pdf", b"")) == "empty file"
    pdf = put(tmp_path, "big.pdf", make_sample_pdf())
    assert "over the limit of 100 bytes" in reason(pdf, max_bytes=100)


def test_twenty_megabyte_limit_by_default(tmp_path: Path) -> None:
    limit = 20 * 1024 * 1024
    assert "over the limit" in reason(put(tmp_path, "huge.pdf", make_sample_pdf(pad_to=limit + 1)))


def test_file_outside_its_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hot").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    outside = put(other, "a.pdf", make_sample_pdf())
    assert reason(outside, tmp_path / "hot") == "the file is outside its folder"


def test_a_linked_directory_in_the_folder_leading_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hot").mkdir()
    (tmp_path / "other").mkdir()
    put(tmp_path / "other", "a.pdf", make_sample_pdf())
    (tmp_path / "hot" / "sub").symlink_to(tmp_path / "other")
    assert reason(tmp_path / "hot" / "sub" / "a.pdf", tmp_path / "hot") == "the file is outside its folder"


def test_a_linked_directory_that_stays_in_the_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "hot" / "real").mkdir(parents=True)
    put(tmp_path / "hot" / "real", "a.pdf", make_sample_pdf())
    (tmp_path / "hot" / "alias").symlink_to(tmp_path / "hot" / "real")
    with open_document(tmp_path / "hot" / "alias" / "a.pdf", tmp_path / "hot") as checked:
        assert checked.file_type == "PDF"


def test_a_document_in_a_plain_subfolder_is_opened_without_resolving_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The work area (.faxdropd/<instance>/) is reached one directory at a time from the hot folder; resolving
    # both paths name by name cost about ten lstat() calls per document, each a hand-off of the GIL.
    work = tmp_path / "hot" / ".faxdropd" / "vm-1"
    work.mkdir(parents=True)
    doc = put(work, "a.pdf", make_sample_pdf())

    def no_realpath(*args: Any, **kwargs: Any) -> str:
        raise AssertionError("realpath() called")

    monkeypatch.setattr(os.path, "realpath", no_realpath)
    with open_document(doc, tmp_path / "hot") as checked:
        assert checked.pages == 1


def test_missing_file_is_not_a_verdict(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_document(tmp_path / "gone.pdf", tmp_path)


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    data = pdf_with_writer(user_password="secret", owner_password="owner")
    assert reason(put(tmp_path, "locked.pdf", data)) == "encrypted PDF"


def test_owner_password_only_pdf_is_accepted(tmp_path: Path) -> None:
    data = pdf_with_writer(user_password="", owner_password="owner")
    checked = check(put(tmp_path, "restricted.pdf", data))
    assert (checked.file_type, checked.pages) == ("PDF", 1)


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4\n1 0 obj garbage", make_sample_pdf(pages=3)[:300], b"%PDF-1.7\n" + bytes(range(256)) * 4],
    ids=["garbage", "truncated", "binary"],
)
def test_corrupt_pdf_is_refused(tmp_path: Path, data: bytes) -> None:
    text = reason(put(tmp_path, "broken.pdf", data))
    assert text.startswith("PDF cannot be parsed: ") or text == "PDF has no pages"
    assert "\n" not in text and len(text) < 160


def test_pypdf_noise_is_dropped_only_while_checking(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    broken = put(tmp_path, "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nno xref here")
    reason(broken)
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []
    logging.getLogger("pypdf._reader").warning("outside a check")
    assert [r.getMessage() for r in caplog.records] == ["outside a check"]


def test_page_limits(tmp_path: Path) -> None:
    assert reason(put(tmp_path, "many.pdf", make_sample_pdf(pages=5)), max_pages=3) == (
        "PDF has 5 pages, over the limit of 3"
    )
    assert check(tmp_path / "many.pdf", max_pages=5).pages == 5
    assert reason(put(tmp_path, "none.pdf", make_sample_pdf(pages=0))) == "PDF has no pages"


def test_odd_names_work(tmp_path: Path) -> None:
    name = os.fsdecode(b"-rf bad\nname \xff\xfe caf\xc3\xa9.txt")
    assert check(put(tmp_path, name, b"hello\n")).file_type == "TXT"


def test_read_chunks_streams_the_same_bytes(tmp_path: Path) -> None:
    data = make_sample_pdf(pages=2, pad_to=300_000)
    with open_document(put(tmp_path, "a.pdf", data), tmp_path) as checked:
        chunks = list(checked.read_chunks(65_536))
        assert b"".join(chunks) == data
        assert max(len(c) for c in chunks) <= 65_536
        assert b"".join(checked.read_chunks(1 << 20)) == data  # pread: repeatable, no shared offset
        fd = checked.fd
    with pytest.raises(OSError):
        os.fstat(fd)  # the context manager closed it
    assert checked.fd == -1


@pytest.mark.parametrize("lines", [100, preflight.IN_MEMORY // 14 + 1], ids=["in-memory", "streamed"])
def test_read_chunks_refuses_content_changed_after_the_check(tmp_path: Path, lines: int) -> None:
    path = put(tmp_path, "a.txt", b"original text\n" * lines)
    with open_document(path, tmp_path) as checked:
        assert (checked.content is None) == (checked.size > preflight.IN_MEMORY)
        with path.open("r+b") as f:  # same inode, new bytes: someone kept a write descriptor
            f.seek(checked.size - 50)
            f.write(b"XXXX")
        with pytest.raises(Rejected, match="changed after it was checked"):
            b"".join(checked.read_chunks(1 << 16))


def test_a_small_document_is_hashed_once_and_sent_as_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_sample_pdf(pages=1, pad_to=100_000)
    hashes = []
    real = hashlib.sha256

    def counted(*args: Any) -> Any:
        hashes.append(1)
        return real(*args)

    monkeypatch.setattr(hashlib, "sha256", counted)
    with open_document(put(tmp_path, "a.pdf", data), tmp_path) as checked:
        assert checked.sha256 == real(data).hexdigest()
        assert b"".join(checked.read_chunks(65_536)) == data
        assert b"".join(checked.read_chunks()) == data
    # The check's hash only: sending compares the file with the bytes checked instead of hashing it again.
    assert len(hashes) == 1


def test_sample_pdf_padding_and_text(tmp_path: Path) -> None:
    data = make_sample_pdf(pages=3, text="a (tricky) \\ text", pad_to=5 * 1024 * 1024)
    assert len(data) >= 5 * 1024 * 1024
    reader = pypdf.PdfReader(io.BytesIO(data), strict=True)
    assert len(reader.pages) == 3
    assert "a (tricky) \\ text" in reader.pages[0].extract_text()
    assert check(put(tmp_path, "padded.pdf", data)).pages == 3


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=2048), name=st.sampled_from(["doc", "d.pdf", "d.txt", "d.tif"]))
def test_arbitrary_bytes_give_a_verdict_never_a_crash(tmp_path: Path, data: bytes, name: str) -> None:
    path = put(tmp_path, name, data)
    try:
        checked = check(path)
    except Rejected as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert checked.file_type in sniff.EXTENSIONS
