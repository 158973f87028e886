"""At most `workers` faxes with InterFAX at once, the next ones checked meanwhile (jobs/sending.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from daemonkit import DaemonProcess, arm_fault, drop, ledger, receipts, wait_for, write_config

from faxdropd.document.sample import make_sample_pdf
from faxdropd.jobs.journal import Job, Journal, State
from faxdropd.jobs.sending import SendSlots

NO_TRACK = {"delivery": {"track": False}}


def test_a_slot_is_given_back_once_and_none_is_handed_out_after_close() -> None:
    slots = SendSlots(1)
    first = slots.take()
    assert first is not None
    waiting: list[object] = []
    taker = threading.Thread(target=lambda: waiting.append(slots.take()))
    taker.start()
    taker.join(0.3)
    assert taker.is_alive(), "the only slot is taken: a second taker waits"
    first.give_back()
    first.give_back()  # the send's end and the job's end both give it back; the second does nothing
    taker.join(5)
    second = waiting[0]
    assert second is not None
    slots.close()
    second.give_back()
    assert slots.take() is None, "a closed set hands out nothing, even with a slot free"


def _journal_rows(state: Path) -> tuple[list[Job], dict[str, list[dict[str, Any]]]]:
    journal = Journal(state, read_only=True)
    try:
        jobs = journal.by_state(*State)
        return jobs, {j.id: journal.events(j.id) for j in jobs}
    finally:
        journal.close()


def _start(tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]) -> tuple[DaemonProcess, Path]:
    hot = tmp_path / "hot"
    hot.mkdir()
    folders = [{"path": str(hot), "to": "+99999990"}]
    cfg = write_config(tmp_path, emulator.url, folders, extra={**NO_TRACK, "workers": 1})
    d = DaemonProcess(cfg, tmp_path / "daemon.log")
    daemons.append(d)
    return d.start(), hot


def test_one_worker_sends_one_fax_at_a_time_and_checks_the_next_meanwhile(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    arm_fault(emulator, op="SendfaxEx_2", kind="latency", count=-1, seconds=1.0)
    d, hot = _start(tmp_path, emulator, daemons)
    for name in ("a.pdf", "b.pdf", "c.pdf"):
        drop(hot, name, make_sample_pdf(text=name))
    wait_for(lambda: len(receipts(hot / "sent")) == 3, 60, what="three receipts")
    assert ledger(emulator)["peak_in_flight"]["SendfaxEx_2"] == 1, "workers: 1 means one fax at a time"
    jobs, events = _journal_rows(tmp_path / "state")
    seq = {j.name: {e["detail"]: e["seq"] for e in events[j.id]} for j in jobs}
    sent = sorted(seq, key=lambda name: seq[name]["inline"])
    # The second document was checked while InterFAX still had the first: its processing started before the
    # first one's answer was journaled.
    assert seq[sent[1]]["processing"] < seq[sent[0]]["outcome accepted"], seq
    assert d.stop() == 0


def test_a_stop_sends_nothing_new_and_a_waiting_document_is_not_counted_as_a_crash(
    tmp_path: Path, emulator: Any, daemons: list[DaemonProcess]
) -> None:
    arm_fault(emulator, op="SendfaxEx_2", kind="latency", count=-1, seconds=2.0)
    d, hot = _start(tmp_path, emulator, daemons)
    drop(hot, "a.pdf", make_sample_pdf(text="a"))
    drop(hot, "b.pdf", make_sample_pdf(text="b"))

    def both_started() -> bool:
        jobs, events = _journal_rows(tmp_path / "state")
        details = [e["detail"] for j in jobs for e in events[j.id]]
        return len(jobs) == 2 and details.count("processing") == 2 and "inline" in details

    wait_for(both_started, 30, interval=0.05, what="one document sending and the other checked")
    assert d.stop() == 0
    assert len(ledger(emulator)["submissions"]) == 1, "the fax under way finishes; the waiting one is not sent"
    jobs, events = _journal_rows(tmp_path / "state")
    [waiting] = [j for j in jobs if j.outcome is None]
    assert waiting.delivery.get("processing_starts") == 0, "stopping is not a crash: its start is taken back"
    assert events[waiting.id][-1]["detail"] == "stopped before sending"
    d.start()
    wait_for(lambda: len(receipts(hot / "sent")) == 2, 60, what="both documents sent after the restart")
    assert sorted(s["job_id"] for s in ledger(emulator)["submissions"]) == sorted(j.reference for j in jobs)
    assert d.stop() == 0
