"""A share that dies while a document is read is an outage, never a verdict on the document.

Pre-flight turns a document's read problems into rejections (filed into failed/ with the reason). On a real
sshfs mount whose server was killed, every read fails with EIO: that must come out as the OSError it is (the
job then waits and retries), not as "PDF cannot be parsed", "not a Word document" or "sidecar cannot be read".
"""

from __future__ import annotations

import contextlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kit.shares import SshfsShare, sshfs_share_fixture  # noqa: F401  (the fixture is used by name)

from faxdropd.document import preflight, routing, sniff
from faxdropd.document.sample import make_sample_pdf
from faxdropd.errors import Rejected, storage_failure


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("word/document.xml", "<w:document/>" * 20_000)
    return buf.getvalue()


@pytest.fixture
def dead_share_fds(sshfs_share: SshfsShare) -> Iterator[dict[str, int]]:
    """Descriptors opened on the mount while the server was alive; the server is dead when they are used."""
    files = {"a.pdf": make_sample_pdf(pages=2, text="share", pad_to=200_000), "b.docx": _docx()}
    fds: dict[str, int] = {}
    for name, data in files.items():
        (sshfs_share.server_dir / name).write_bytes(data)
        fds[name] = os.open(sshfs_share.mount_dir / name, os.O_RDONLY)
    sshfs_share.kill_server()
    try:
        yield fds
    finally:
        for fd in fds.values():
            with contextlib.suppress(OSError):  # FUSE's flush on close meets the dead server too
                os.close(fd)


def test_pdf_read_failing_on_a_dead_share_is_an_outage(dead_share_fds: dict[str, int]) -> None:
    with pytest.raises(OSError) as failure:
        preflight._pdf_pages(dead_share_fds["a.pdf"], 200_000, 100)  # the in-memory read of a small PDF
    assert not isinstance(failure.value, Rejected) and storage_failure(failure.value), failure.value


def test_docx_read_failing_on_a_dead_share_is_an_outage(dead_share_fds: dict[str, int]) -> None:
    with pytest.raises(OSError) as failure:
        sniff._is_docx(dead_share_fds["b.docx"])
    assert storage_failure(failure.value), failure.value


def test_sidecar_on_a_dead_share_is_an_outage(sshfs_share: SshfsShare) -> None:
    (sshfs_share.server_dir / "a.pdf.fax.yaml").write_text("to: '+12125550100'\n")
    sidecar = sshfs_share.mount_dir / "a.pdf.fax.yaml"
    assert routing.load_sidecar(sidecar) == {"to": "+12125550100"}
    sshfs_share.kill_server()
    with pytest.raises(OSError) as failure:
        routing.load_sidecar(sidecar)
    assert storage_failure(failure.value), failure.value


def test_a_broken_document_is_still_rejected(tmp_path: Path) -> None:
    """Control: only storage errors pass through; a document that cannot be parsed is still rejected."""
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\n" + b"garbage " * 100)
    with pytest.raises(Rejected):
        preflight.open_document(bad, tmp_path)
    unreadable = tmp_path / "x.pdf.fax.yaml"
    unreadable.mkdir()  # EISDIR on read: the sidecar's own problem
    with pytest.raises(routing.Rejection, match="cannot be read"):
        routing.load_sidecar(unreadable)
