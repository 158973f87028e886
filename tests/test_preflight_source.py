"""A small PDF is pre-flighted from one in-memory read; a large one through a descriptor (preflight._pdf_source).

The one read serves every check of a small document: the type sniffed from its head, the hash, the page count.

pypdf seeks and reads all over its input; on a descriptor each of those is a system call, so the small case
(the common fax) must reach pypdf as bytes already in memory. A large one must not be slurped whole.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from faxdropd.document import preflight
from faxdropd.document.preflight import IN_MEMORY, open_document
from faxdropd.document.sample import make_sample_pdf


class _Spy:
    """Records what pypdf was handed, and the preads preflight made while it was parsing."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sources: list[Any] = []
        self.on_descriptor: list[bool] = []  # judged while open: the dup is closed by the time we look
        self.preads: list[tuple[int, int]] = []
        real_reader, real_pread = preflight.PdfReader, os.pread

        def reader(stream: Any, *args: Any, **kwargs: Any) -> Any:
            self.sources.append(stream)
            self.on_descriptor.append(_backed_by_descriptor(stream))
            return real_reader(stream, *args, **kwargs)

        def pread(fd: int, length: int, offset: int) -> bytes:
            self.preads.append((length, offset))
            return real_pread(fd, length, offset)

        monkeypatch.setattr(preflight, "PdfReader", reader)
        monkeypatch.setattr(preflight.os, "pread", pread)


def _backed_by_descriptor(stream: Any) -> bool:
    try:
        stream.fileno()
    except (OSError, io.UnsupportedOperation):
        return False
    return True


def _check(tmp_path: Path, data: bytes) -> int | None:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    with open_document(path, tmp_path) as checked:
        assert checked.size == len(data)
        return checked.pages


def test_small_pdf_is_parsed_from_one_read_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_sample_pdf(pages=2, pad_to=100 * 1024)
    assert len(data) <= IN_MEMORY
    spy = _Spy(monkeypatch)
    assert _check(tmp_path, data) == 2
    [source] = spy.sources
    assert isinstance(source, io.BytesIO)
    assert spy.on_descriptor == [False]
    # The whole document in one pread from offset 0, and nothing else: sniffing and hashing use it too.
    assert spy.preads == [(len(data), 0)]


def test_pdf_at_the_limit_is_still_read_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_sample_pdf(pages=1, pad_to=IN_MEMORY)
    data = make_sample_pdf(pages=1, pad_to=2 * IN_MEMORY - len(data))  # padding lands a little over its aim
    assert len(data) == IN_MEMORY
    spy = _Spy(monkeypatch)
    assert _check(tmp_path, data) == 1
    assert [type(s) for s in spy.sources] == [io.BytesIO]


def test_large_pdf_is_read_through_the_descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = make_sample_pdf(pages=3, pad_to=IN_MEMORY + 64 * 1024)
    assert len(data) > IN_MEMORY
    spy = _Spy(monkeypatch)
    assert _check(tmp_path, data) == 3
    [source] = spy.sources
    assert not isinstance(source, io.BytesIO)
    assert spy.on_descriptor == [True]
    assert (len(data), 0) not in spy.preads  # never slurped whole
    assert source.closed  # the dup is released once the pages are counted
