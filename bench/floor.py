"""Where a small fax's CPU goes (issue #8, the inline overhead): the parts of the daemon's per-document work
measured one at a time, in CPU milliseconds per 100 KB document, beside the raw-wire client's whole cost.

The overhead benchmark's daemon is CPU-bound on small documents: one process, so its Python code runs on one
core at a time (the GIL), while the wire baseline's client needs ~2 ms per document. These figures say how
much of the daemon's per-document CPU is the SOAP library and the durability work it cannot skip, and so
whether the 1.3 x target is within reach by tuning. Each part runs N times in this process after a warm-up;
CPU is `time.process_time()` (all threads of this process; the emulator is another process).

    python bench/floor.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import NUMBER, PASSWORD, Context, EmulatorProc, Result, make_pdf
from bench.wire import WireClient
from faxdropd import log as logmod
from faxdropd.config.model import FaxOptions
from faxdropd.document import preflight
from faxdropd.files import filing
from faxdropd.interfax.client import ClientFactory, ClientSettings
from faxdropd.interfax.faxfields import sendfax_fields
from faxdropd.jobs.journal import Job, Journal, State, new_job_id

SIZE = 100_000
WARMUP = 5


def cpu_ms(fn: Callable[[int], object], n: int) -> float:
    for i in range(WARMUP):
        fn(-1 - i)
    started = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - started) / n * 1000


def _soap_parts(emu: EmulatorProc, data: bytes, n: int) -> tuple[float, float]:
    wire = WireClient(emu.url, "demo", PASSWORD)
    wire_ms = cpu_ms(lambda i: wire.send_fax(data, str(len(data)), f"w-{i}", f"doc.pdf [w-{i}]", NUMBER), n)
    factory = ClientFactory(ClientSettings(url=emu.url, username="demo", password=PASSWORD))
    client = factory.client()
    try:

        def zeep_send(i: int) -> None:
            fields = sendfax_fields(FaxOptions(), numbers=[NUMBER], document_name="doc.pdf", folder_name="inbox",
                                    reference=f"fd-{i}", now=datetime.now(UTC))  # fmt: skip
            client.send_fax(fields, data, ["pdf"], str(len(data)))

        zeep_ms = cpu_ms(zeep_send, n)
    finally:
        factory.close()
    return wire_ms, zeep_ms


def _preflight_ms(base: Path, data: bytes, n: int) -> float:
    hot = base / "hot"
    (hot / filing.WORK_DIR).mkdir(parents=True)
    doc = hot / filing.WORK_DIR / "doc.pdf"
    doc.write_bytes(data)

    def check(_: int) -> None:
        with preflight.open_document(doc, hot / filing.WORK_DIR) as checked:
            for _chunk in checked.read_chunks(256 * 1024):  # what the upload reads again
                pass

    return cpu_ms(check, n)


def _journal_ms(base: Path, n: int) -> float:
    """One job's commits in the order an inline fax makes them: created, processing, submitting, submitted
    with its outcome, filed. CPU only: the fsync waits cost wall time, not CPU."""
    journal = Journal(base / "state")
    try:

        def life(_: int) -> None:
            job_id = new_job_id()
            job = journal.create(Job(id=job_id, reference=f"fd-{job_id}", folder="inbox", hot=str(base),
                                     name="doc.pdf", work_path=str(base / "doc.pdf"), sidecar_path=None,
                                     state=State.CLAIMED))  # fmt: skip
            job = journal.transition(job, State.CLAIMED, "processing", delivery={"processing_starts": 1})
            job = journal.transition(job, State.SUBMITTING, "inline", submitted_at=time.time(), sha256="0" * 64,
                                     size=SIZE, pages=1, file_type="pdf", numbers=[NUMBER])  # fmt: skip
            job = journal.transition(job, State.SUBMITTED, "transaction 1", transaction_ids=[1], outcome="accepted")
            journal.transition(job, State.DELIVERED, "filed", final_path=str(base / "sent" / "doc.pdf"))

        return cpu_ms(life, n)
    finally:
        journal.close()


def _filing_ms(base: Path, data: bytes, n: int) -> float:
    hot = base / "fhot"
    work = hot / filing.WORK_DIR
    work.mkdir(parents=True)

    # The sources exist before the clock starts: creating a file is the claim's business (a rename of the
    # user's file), not filing's. Each document has its own name, as the CPU benchmark's do: n documents all
    # called doc.pdf would time the search for a free name (doc.<stamp>-<k>.pdf), which grows with n.
    for i in range(-WARMUP, n):
        (work / f"j{i}__doc{i}.pdf").write_bytes(data[:1024])  # the move's cost does not depend on the size

    def file_one(i: int) -> None:
        src = work / f"j{i}__doc{i}.pdf"
        filing.file_document(src, hot / "sent", f"doc{i}.pdf", {"job_id": f"j{i}", "outcome": "accepted"},
                             hot=hot, resume=False)  # fmt: skip

    return cpu_ms(file_one, n)


def _log_ms(n: int) -> float:
    with open(os.devnull, "w") as sink:
        logmod.configure("json", "info", sink)
        log = logmod.get_logger("faxdropd.bench")

        def six_lines(i: int) -> None:  # job.detected/stable/claimed/uploading/submitted/delivered
            for event in ("job.detected", "job.stable", "job.claimed", "job.uploading", "job.submitted",
                          "job.delivered"):  # fmt: skip
                log.info(event, job_id=f"j{i}", folder="inbox", file="doc.pdf", reference=f"fd-j{i}", size=SIZE)

        return cpu_ms(six_lines, n)


def measure(n: int, workdir: Path) -> dict[str, float]:
    data = make_pdf(SIZE, "floor")
    base = Path(tempfile.mkdtemp(prefix="floor-", dir=workdir))
    with EmulatorProc() as emu:
        wire_ms, zeep_ms = _soap_parts(emu, data, n)
    return {
        "wire": wire_ms,
        "SendfaxEx_2 through faxdropd's client (zeep over http.client)": zeep_ms,
        "pre-flight (open, sha256, pypdf page count) + the upload's read, compared with the bytes checked": (
            _preflight_ms(base, data, n)
        ),
        "journal: 5 commits of one job (CPU only)": _journal_ms(base, n),
        "filing: receipt + move + directory fsyncs": _filing_ms(base, data, n),
        "6 JSON log lines": _log_ms(n),
    }


def run(ctx: Context) -> list[Result]:
    n = 20 if ctx.quick else 300
    ctx.log(f"floor: {n} x {SIZE} bytes per part, in a fresh process")
    # A child process: its CPU clock counts nothing but these parts, and its logging setup stays its own.
    child = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", str(n), str(ctx.workdir)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    if child.returncode != 0:
        raise RuntimeError(f"floor child failed:\n{child.stderr[-3000:]}")
    parts: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    wire_ms = parts.pop("wire")
    results = [Result("floor", "wire client: base64 + POST SendfaxEx_2, per document", round(wire_ms, 2),
                      "ms CPU", note="the whole of the baseline's client-side work")]  # fmt: skip
    for name, value in parts.items():
        results.append(Result("floor", name, round(value, 2), "ms CPU", baseline=round(wire_ms, 2)))
    total = sum(parts.values())
    results.append(Result(
        "floor", "sum of the parts above (watcher, main loop and thread hand-offs not included)", round(total, 2),
        "ms CPU", baseline=round(wire_ms, 2),
        note=f"{total / wire_ms:.1f} x the wire client's CPU; the daemon's whole CPU per document is in the "
             "overhead benchmark's note",
    ))  # fmt: skip
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(int(sys.argv[2]), Path(sys.argv[3]))))
        sys.exit(0)
    from bench.run import main

    sys.exit(main(["--only", "floor", *sys.argv[1:]]))
