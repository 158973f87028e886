"""Getting a fax's documents to InterFAX: inline for small faxes, a chunked upload session for large ones.

Documents are streamed from their open descriptors, so memory stays bounded by the chunk size whatever the
file size. An upload is only worth anything once SendfaxEx_2 references it, so any doubt about a chunk
(timeout, reset, wrong running total) abandons the whole session and starts a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import structlog

from faxdropd.config.interfax import CHUNK_SIZE, INLINE_MAX_BYTES
from faxdropd.errors import PermanentError, TransientError, UploadSessionError
from faxdropd.interfax.client import InterfaxClient

log = structlog.get_logger("faxdropd.interfax.upload")

Progress = Callable[[int, int], None]  # (bytes sent, bytes total)


@dataclass(frozen=True)
class Part:
    """One document of a fax (a cover page comes first)."""

    file_type: str
    size: int
    chunks: Callable[[int], Iterable[bytes]]  # chunk_size -> the document's bytes, in order


@dataclass(frozen=True)
class UploadLimits:
    chunk_size: int = CHUNK_SIZE
    inline_max_bytes: int = INLINE_MAX_BYTES
    attempts: int = 3


def is_inline(parts: Sequence[Part], inline_max_bytes: int) -> bool:
    """True when the fax's documents travel inside SendfaxEx_2 itself; False when they need an upload session.

    The one place this is decided: the pipeline journals its state by it, `send` shows progress by it, and
    `submit` acts on it, so they cannot disagree about a fax of exactly `inline_max_bytes`.
    """
    return sum(p.size for p in parts) <= inline_max_bytes


def _with_last(chunks: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Yield (chunk, is_last) with one chunk of lookahead, skipping empty chunks (-1061 otherwise)."""
    previous: bytes | None = None
    for chunk in chunks:
        if not chunk:
            continue
        if previous is not None:
            yield previous, False
        previous = chunk
    if previous is not None:
        yield previous, True


def _all_chunks(parts: Sequence[Part], chunk_size: int) -> Iterator[bytes]:
    for part in parts:
        yield from part.chunks(chunk_size)


def upload_session(
    client: InterfaxClient, parts: Sequence[Part], limits: UploadLimits, progress: Progress | None = None
) -> str:
    """Upload every part into one fresh session and return its id; retried as a whole on any doubt."""
    total = sum(p.size for p in parts)
    last_error: TransientError | None = None
    for attempt in range(1, limits.attempts + 1):
        session_id = client.start_upload()
        sent = 0
        try:
            for chunk, is_last in _with_last(_all_chunks(parts, limits.chunk_size)):
                running = client.upload_chunk(session_id, chunk, is_last)
                sent += len(chunk)
                if running != sent:
                    raise UploadSessionError(
                        f"InterFAX counted {running} bytes, {sent} were sent", operation="UploadFileChunk"
                    )
                if progress is not None:
                    progress(sent, total)
            if sent != total:
                # The file changed under us after pre-flight: never send a different document than checked.
                raise PermanentError(f"document size changed during upload ({sent} != {total})")
            return session_id
        except TransientError as exc:
            client.cancel_upload(session_id)
            last_error = exc
            log.info("upload.restart", attempt=attempt, error=str(exc))
            time.sleep(min(0.5 * attempt, 2.0))
        except BaseException:
            client.cancel_upload(session_id)
            raise
    assert last_error is not None
    raise last_error


def submit(
    client: InterfaxClient,
    parts: Sequence[Part],
    fields: Mapping[str, object],
    limits: UploadLimits,
    progress: Progress | None = None,
    on_uploaded: Callable[[str | None], None] | None = None,
) -> int:
    """Upload (when large) and submit one fax; returns its first transaction id.

    `on_uploaded` runs between the upload and SendfaxEx_2, so the caller can journal the point after which
    the outcome may become unknown.
    """
    if not parts:
        raise PermanentError("a fax needs at least one document")
    sizes = [p.size for p in parts]
    types = [p.file_type for p in parts]
    total = sum(sizes)
    size_list = ";".join(str(s) for s in sizes)
    if is_inline(parts, limits.inline_max_bytes):
        data = b"".join(_all_chunks(parts, limits.chunk_size))
        if len(data) != total:
            raise PermanentError(f"document size changed before sending ({len(data)} != {total})")
        if progress is not None:
            progress(total, total)
        if on_uploaded is not None:
            on_uploaded(None)
        return client.send_fax(fields, data, types, size_list)
    session_id = upload_session(client, parts, limits, progress)
    if on_uploaded is not None:
        on_uploaded(session_id)
    return client.send_fax(fields, b"", types, f"{size_list}/sessionID={session_id}")
