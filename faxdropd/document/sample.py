"""A hand-written sample PDF for demos and tests: no PDF library needed to make one."""

from __future__ import annotations


def make_sample_pdf(pages: int = 1, text: str = "faxdropd", pad_to: int = 0) -> bytes:
    """A small valid PDF written by hand (correct xref offsets), `pages` pages of Helvetica `text`.

    `pad_to` appends an unreferenced stream object until the file has at least that many bytes: readers
    ignore it, so big test documents stay cheap to parse.
    """
    if pages < 0:
        raise ValueError("pages must be >= 0")
    safe = text.encode("latin-1", "replace")
    for special in (b"\\", b"(", b")"):  # backslash first, or the escapes themselves get escaped
        safe = safe.replace(special, b"\\" + special)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i in range(pages):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            + f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        line = safe + f" - page {i + 1} of {pages}".encode()
        objects.append(_stream(b"BT /F1 18 Tf 72 770 Td (" + line + b") Tj ET"))
    document = assemble(objects)
    if pad_to > len(document):
        document = assemble([*objects, _stream(b"0" * (pad_to - len(document)))])
    return document


def _stream(data: bytes) -> bytes:
    return f"<< /Length {len(data)} >>\nstream\n".encode() + data + b"\nendstream"


def assemble(objects: list[bytes]) -> bytes:
    """A PDF file of `objects` (numbered from 1, object 1 the catalog) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
