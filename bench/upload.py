"""Issue #2: the chunked upload in a fresh process — peak RSS over the RSS before the upload, and the time
per UploadFileChunk through faxdropd's client (zeep) against the same envelopes posted with plain requests.

The parent starts the emulator (its own process) and a fresh child per measurement (`--child`), so the RSS
figure carries nothing from earlier runs. In the child the client is warmed up first (WSDL parsed, one
chunk sent), then VmHWM is reset by writing "5" to /proc/self/clear_refs, so VmHWM after the upload is the
peak *during* the upload.

    python bench/upload.py [--quick]
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PASSWORD, REPO, Context, EmulatorProc, Result, make_pdf, proc_status_kb

CHUNK = 200_000
RSS_TARGET_MB = 30.0
ROUNDS = 3


def _rss_mb() -> float:
    return proc_status_kb(os.getpid(), "VmRSS") / 1024


def _hwm_mb() -> float:
    return proc_status_kb(os.getpid(), "VmHWM") / 1024


def child(url: str, path: Path, side: str) -> dict[str, Any]:
    """One upload of `path` by `side` ("faxdropd" or "wire") in this fresh process."""
    from bench.wire import WireClient, list_lookahead, read_chunks
    from faxdropd.document import preflight
    from faxdropd.interfax import upload
    from faxdropd.interfax.client import ClientFactory, ClientSettings

    chunk_times: list[float] = []
    size = path.stat().st_size
    if side == "faxdropd":
        factory = ClientFactory(
            ClientSettings(url=url, username="demo", password=PASSWORD, timeout=120),
            observer=lambda op, result, seconds: chunk_times.append(seconds) if op == "UploadFileChunk" else None,
        )  # fmt: skip
        client = factory.client()
        # Warm-up: every code path of a chunk upload runs once before the measurement.
        client.cancel_upload(_warm(client.start_upload(), client.upload_chunk))
        chunk_times.clear()
        checked = preflight.open_document(path, path.parent)
        part = upload.Part(file_type=checked.file_type, size=checked.size, chunks=checked.read_chunks)
        gc.collect()
        before = _reset_hwm()
        started = time.perf_counter()
        upload.upload_session(client, [part], upload.UploadLimits(chunk_size=CHUNK))
        elapsed = time.perf_counter() - started
        checked.close()
    else:
        wire = WireClient(url, "demo", PASSWORD)
        _warm(wire.start_upload(), wire.upload_chunk)
        fd = os.open(path, os.O_RDONLY)
        gc.collect()
        before = _reset_hwm()
        started = time.perf_counter()
        session = wire.start_upload()
        for chunk, last in list_lookahead(read_chunks(fd, size, CHUNK)):
            t0 = time.perf_counter()
            wire.upload_chunk(session, chunk, last)
            chunk_times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        os.close(fd)
    peak = _hwm_mb()
    return {"side": side, "rss_before_mb": before, "peak_mb": peak, "delta_mb": peak - before,
            "chunks": len(chunk_times), "seconds": elapsed, "chunk_median_s": statistics.median(chunk_times),
            "chunk_mean_s": statistics.fmean(chunk_times)}  # fmt: skip


def _warm(session: str, send: Any) -> str:
    send(session, b"%PDF-1.4 warm-up " * 4096, False)
    return session


def _reset_hwm() -> float:
    """Reset the peak to the current RSS (Linux >= 4.0) and return that RSS in MB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _rss_mb()


def _spawn(url: str, path: Path, side: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.upload", "--child", url, str(path), side],
        capture_output=True, text=True, cwd=REPO, check=False, timeout=600,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"upload child failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run(ctx: Context) -> list[Result]:
    size = 2_000_000 if ctx.quick else 20_000_000
    rounds = 1 if ctx.quick else ROUNDS
    base = ctx.dir("upload")
    path = base / "big.pdf"
    path.write_bytes(make_pdf(size, "upload benchmark"))
    runs: dict[str, list[dict[str, Any]]] = {"faxdropd": [], "wire": []}
    with EmulatorProc() as emu:
        for _ in range(rounds):  # alternate the sides so drifting load hits both alike
            for side in ("faxdropd", "wire"):
                ctx.log(f"upload: {size} bytes by {side}")
                runs[side].append(_spawn(emu.url, path, side))
    fd, wire = runs["faxdropd"], runs["wire"]
    delta = max(r["delta_mb"] for r in fd)
    per_chunk = statistics.median(r["seconds"] / r["chunks"] for r in fd)
    per_chunk_wire = statistics.median(r["seconds"] / r["chunks"] for r in wire)
    ratio = per_chunk / per_chunk_wire
    mb = size / 1e6
    return [
        Result("upload", f"peak RSS over RSS before, {mb:g} MB upload, {CHUNK // 1000} KB chunks (fresh process)",
               round(delta, 1), "MB", f"<= {RSS_TARGET_MB:g} MB", delta <= RSS_TARGET_MB,
               baseline=round(max(r["delta_mb"] for r in wire), 1),
               note=f"RSS before {fd[0]['rss_before_mb']:.0f} MB; worst of {rounds}; baseline = plain requests"),
        Result("upload", f"time per chunk, faxdropd client / plain requests ({mb:g} MB, {fd[0]['chunks']} chunks)",
               round(ratio, 2), "x", "", None, baseline=round(per_chunk_wire * 1000, 1),
               note=f"{per_chunk * 1000:.1f} ms vs {per_chunk_wire * 1000:.1f} ms per chunk (wall / chunks, "
                    f"median of {rounds}); baseline in ms"),
    ]  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]), sys.argv[4])))
        sys.exit(0)
    from bench.run import main

    sys.exit(main(["--only", "upload", *sys.argv[1:]]))
