"""T9: the hostile-folder suite. Everything an attacker who can write to the share can drop, at once.

A canary file outside the hot folder carries unique marker bytes; whatever happens, those bytes must never
reach the emulator (checked on every submission's hashes and on the documents the emulator stored). Every
bad input ends in failed/ with a receipt saying why, or stays untouched where the design ignores it; the
daemon stays up, and normal documents dropped alongside are delivered.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import stat
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import requests
from daemonkit import DaemonProcess, documents, drop, wait_for, write_config
from pypdf import PdfWriter

from faxdropd.document.sample import make_sample_pdf

pytestmark = pytest.mark.reliability

TO = "+99999990"


def ledger(emulator: Any) -> dict[str, Any]:
    data: dict[str, Any] = requests.get(emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=10).json()
    return data


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(make_sample_pdf(pages=1, text="encrypted")))
    writer.encrypt(user_password="user-pw", owner_password="owner-pw", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def zip_bomb(member: str, megabytes: int) -> bytes:
    """A ZIP of ~1/1000 the size whose one member inflates to `megabytes` MB of zeros."""
    out = io.BytesIO()
    zeros = bytes(1 << 20)
    with (
        zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open(member, "w", force_zip64=True) as handle,
    ):
        for _ in range(megabytes):
            handle.write(zeros)
    return out.getvalue()


def receipts(folder: Path) -> list[dict[str, Any]]:
    """Receipts in `folder`, skipping the symlink this test plants at a receipt name."""
    return [json.loads(p.read_bytes()) for p in sorted(folder.glob("*.receipt.json")) if not p.is_symlink()]


def names_in_bytes(folder: Path) -> dict[bytes, Path]:
    return {os.fsencode(p.name): p for p in folder.iterdir()} if folder.is_dir() else {}


def test_hostile_folder(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> None:
    hot = tmp_path / "hot"
    hot.mkdir()
    (hot / "sent").mkdir()
    marker = f"CANARY-{uuid.uuid4().hex}"
    canary = tmp_path / "canary-secret.pdf"
    canary.write_bytes(make_sample_pdf(text=marker))  # a valid PDF: if it were ever read, it would be sent
    canary_sha = hashlib.sha256(canary.read_bytes()).hexdigest()
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "inner.pdf").write_bytes(canary.read_bytes())
    receipt_target = tmp_path / "receipt-target"  # a receipt written through a planted link would land here

    cfg = write_config(tmp_path, emulator.url, [{"path": str(hot), "to": TO}])
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    d.start()

    # name -> the words its receipt's reason must contain (all land in failed/ as "rejected")
    rejected: dict[str, str] = {
        "link.pdf": "symbolic link",
        "dirlink.pdf": "symbolic link",
        "hard.pdf": "hard-linked",
        "pipe.pdf": "not a regular file",
        "sock.pdf": "not a regular file",
        "fake.pdf": "content is PNG but the name says .pdf",
        "bomb.zip.docx": "ZIP archive that is not a Word document",
        "encrypted.pdf": "encrypted PDF",
        "truncated.pdf": "PDF",
        "huge.pdf": "over the limit of 20971520 bytes",
        "pages101.pdf": "101 pages, over the limit of 100",
        "side-dotdot.pdf": "outside the hot folder",
        "side-absolute.pdf": "outside the hot folder",
    }
    (hot / "link.pdf").symlink_to(canary)
    (hot / "dirlink.pdf").symlink_to(outside_dir, target_is_directory=True)
    os.link(canary, hot / "hard.pdf")
    os.mkfifo(hot / "pipe.pdf")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cwd = Path.cwd()
    os.chdir(hot)  # bind by relative name: AF_UNIX paths are limited to 107 bytes, tmp_path may be longer
    try:
        sock.bind("sock.pdf")
    finally:
        os.chdir(cwd)
    sock.close()  # the socket file stays in the folder
    drop(hot, "fake.pdf", b"\x89PNG\r\n\x1a\n" + bytes(200))
    drop(hot, "bomb.zip.docx", zip_bomb("payload.bin", 300))  # a bomb that is not a Word document
    drop(hot, "encrypted.pdf", encrypted_pdf())
    whole = make_sample_pdf(pages=3, text="truncated")
    drop(hot, "truncated.pdf", whole[: len(whole) // 3])
    with (hot / ".huge.pdf.part").open("wb") as handle:
        handle.write(b"%PDF-1.4\n")
        handle.truncate(20 * 1024 * 1024 + 1)  # sparse: costs no disk
    (hot / ".huge.pdf.part").rename(hot / "huge.pdf")
    drop(hot, "pages101.pdf", make_sample_pdf(pages=101, text="long"))
    for name, cover in (("side-dotdot.pdf", "../canary-secret.pdf"), ("side-absolute.pdf", str(canary))):
        drop(hot, name + ".fax.yaml", json.dumps({"fax": {"cover_page": cover}}).encode())
        drop(hot, name, make_sample_pdf(text="sidecar"))

    # Odd names with honest content: they must be faxed, and their names must not break logs or receipts.
    odd_names = [
        b"new\nline.txt",
        b"ansi\x1b[31mred\x07.txt",
        b"bad-utf8-\xff\xfe.txt",
        b"-rf --help.txt",
        b"L" * 251 + b".txt",
    ]
    for raw in odd_names:
        raw_path = os.path.join(os.fsencode(hot), raw)
        with open(raw_path, "wb") as handle:
            handle.write(b"an honest document with an odd name: " + raw.hex().encode() + b"\n")  # unique: no duplicate
    # A zip bomb that IS a Word document is sent untouched: pre-flight reads only the central directory.
    drop(hot, "bomb.docx", zip_bomb("word/document.xml", 300))
    # Ignored by design: a directory named like a document, and an empty file (a writer that has not written).
    (hot / "folder.pdf").mkdir()
    (hot / "folder.pdf" / "inside.pdf").write_bytes(canary.read_bytes())
    (hot / "empty.pdf").touch()
    # A link planted where the normal document's receipt will be written: nothing may be written through it.
    (hot / "sent" / "normal.pdf.receipt.json").symlink_to(receipt_target)
    normal = [make_sample_pdf(pages=1, text=f"normal {n}") for n in range(3)]
    for n, data in enumerate(normal):
        drop(hot, "normal.pdf" if n == 0 else f"normal{n}.pdf", data)

    wait_for(
        lambda: len(receipts(hot / "failed")) >= len(rejected), 180, interval=0.5, what=f"{len(rejected)} rejections"
    )
    wait_for(
        lambda: len(receipts(hot / "sent")) >= len(normal) + len(odd_names) + 1,
        180,
        interval=0.5,
        what="normal, odd-named and bomb.docx documents delivered",
    )

    failed = {r["file"]: r for r in receipts(hot / "failed")}
    assert set(failed) == set(rejected), failed.keys()
    for name, words in rejected.items():
        assert failed[name]["outcome"] == "rejected", failed[name]
        assert words in failed[name]["reason"], (name, failed[name]["reason"])
    in_failed = names_in_bytes(hot / "failed")
    for name in rejected:
        assert name.encode() in in_failed, f"{name} is not in failed/"
    assert stat.S_ISLNK(in_failed[b"link.pdf"].lstat().st_mode)  # filed as the link itself, never its target
    assert stat.S_ISFIFO(in_failed[b"pipe.pdf"].lstat().st_mode)

    sent = {r["file"]: r for r in receipts(hot / "sent")}
    expected_sent = {"normal.pdf", "normal1.pdf", "normal2.pdf", "bomb.docx"} | {os.fsdecode(n) for n in odd_names}
    assert set(sent) == expected_sent, set(sent) ^ expected_sent
    assert all(r["outcome"] == "delivered" for r in sent.values())
    sent_names = names_in_bytes(hot / "sent")
    for raw in odd_names:
        if len(raw) + len(b".receipt.json") <= 255:
            assert raw in sent_names, f"{raw!r} not filed under its own name"
        else:  # the stem is cut so that "<name>.receipt.json" fits in NAME_MAX; the receipt keeps the full name
            assert [n for n in sent_names if n.startswith(raw[:200]) and n.endswith(b".txt")], sent_names
    assert not receipt_target.exists(), "a receipt was written through a planted symlink"
    assert stat.S_ISLNK((hot / "sent" / "normal.pdf.receipt.json").lstat().st_mode)

    # Ignored inputs are left exactly as they were.
    assert (hot / "folder.pdf" / "inside.pdf").read_bytes() == canary.read_bytes()
    assert (hot / "empty.pdf").stat().st_size == 0

    # The canary never reached the emulator: not as a submission hash, a document hash, or stored bytes.
    subs = ledger(emulator)["submissions"]
    assert len(subs) == len(expected_sent)
    for sub in subs:
        assert sub["sha256"] != canary_sha and canary_sha not in sub["document_sha256"]
    store = tmp_path / "store"
    stored = [p for p in store.rglob("*") if p.is_file()]
    assert len(stored) == len(subs)
    for path in stored:
        assert marker.encode() not in path.read_bytes(), f"canary bytes in {path}"
    assert {hashlib.sha256(data).hexdigest() for data in normal} <= {s["sha256"] for s in subs}

    # The daemon is up, and every log line is one JSON object (names escaped, no forged lines).
    assert d.proc is not None and d.proc.poll() is None
    text = d.log_text()
    assert "\x1b" not in text and "\x07" not in text
    for line in text.splitlines():
        json.loads(line)
    assert marker not in text
    assert d.stop() == 0
    assert documents(hot / "failed")  # sanity: the helper sees the filed documents
