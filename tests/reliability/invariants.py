"""The one invariant check every reliability test ends with (reliability.md §4 T1/T2/T15 pass criteria).

The oracle is independent of the daemon: the bytes actually lying in sent/ and failed/ (hashed here, not
read from the daemon's receipts alone) and the emulator's own ledger of submissions.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from daemonkit import documents, receipts

FINAL_STATES = ("delivered", "failed", "rejected", "adopted")


@dataclass
class Report:
    inputs: int = 0
    sent: int = 0
    failed: int = 0
    submissions: int = 0
    duplicates: int = 0  # references (or distinct contents) submitted more than once
    losses: int = 0  # inputs found in neither sent/ nor failed/
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"inputs={self.inputs} sent={self.sent} failed={self.failed} submissions={self.submissions} "
            f"duplicates={self.duplicates} losses={self.losses} outcomes={dict(self.outcomes)}"
        )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ledger(emulator: Any) -> dict[str, Any]:
    r = requests.get(emulator.url.rsplit("/", 1)[0] + "/_emulator/ledger", timeout=30)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def journal_rows(state_dir: Path) -> list[tuple[str, str, str | None]]:
    """(id, state, outcome) of every job, read-only, while the daemon may still hold the database open."""
    db = sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        return [(r[0], r[1], r[2]) for r in db.execute("SELECT id, state, outcome FROM jobs")]
    finally:
        db.close()


def caught_in_send(state_dir: Path, emulator: Any) -> tuple[int, int]:
    """After a kill, before the restart: (jobs the journal holds as `submitting`, how many of them the emulator's
    ledger already has a SendfaxEx_2 for).

    `submitting` is committed before SendfaxEx_2 and left only by the commit of its outcome, so a job in it means
    the kill landed inside a send; one the emulator already has is the window a resend would double (W5/W6).
    """
    db = sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        refs = {r[0] for r in db.execute("SELECT reference FROM jobs WHERE state = 'submitting'")}
    finally:
        db.close()
    if not refs:
        return 0, 0
    sent = {str(s["job_id"]) for s in ledger(emulator)["submissions"]}
    return len(refs), len(refs & sent)


def filed_count(hots: Iterable[Path]) -> int:
    return sum(len(documents(h / "sent")) + len(documents(h / "failed")) for h in hots)


def quiescent(hots: list[Path], state_dir: Path, expected: int) -> bool:
    """Every input filed and no job left unfinished in the journal."""
    if filed_count(hots) < expected:
        return False
    try:
        rows = journal_rows(state_dir)
    except sqlite3.Error:
        return False
    return all(state in FINAL_STATES for _, state, _ in rows)


def settled(hots: list[Path], state_dir: Path) -> frozenset[str] | None:
    """The unfinished jobs when no document is left in any hot folder or work area; None while some are.

    With no document in flight, an unfinished job has nothing left to file: when the same set stays unfinished
    across several looks (Rig.quiesce), waiting longer cannot help, and check() reports what is wrong at once
    (inputs lost, jobs not final) instead of after the quiesce timeout.
    """
    for hot in hots:
        if any((hot / ".faxdropd").glob("*__*")):
            return None
        if any(p.is_file() and not p.name.startswith(".") for p in hot.iterdir()):
            return None
    try:
        rows = journal_rows(state_dir)
    except sqlite3.Error:
        return None
    return frozenset(job_id for job_id, state, _ in rows if state not in FINAL_STATES)


def check(
    hots: list[Path],
    state_dir: Path,
    inputs: Iterable[bytes | str],
    emulator: Any,
    *,
    all_sent: bool = False,
) -> Report:
    """Assert the invariants after quiescence; `inputs` are the contents (or their sha256) dropped.

    - every input is in exactly one of sent/ or failed/ (multiset of content hashes, from the filed bytes);
    - every filed document has its receipt, with the same sha256 and a distinct job reference;
    - the emulator saw at most one SendfaxEx_2 per reference (JobID), at most as many submissions per content
      as inputs with that content, and exactly one for each receipt that says the fax was accepted;
    - no claimed file is left in a work area and nothing is left in a hot folder;
    - the journal passes PRAGMA integrity_check and holds no unfinished job.
    """
    wanted = Counter(x if isinstance(x, str) else sha(x) for x in inputs)
    rep = Report(inputs=sum(wanted.values()))
    filed: Counter[str] = Counter()
    refs: list[str] = []
    accepted_refs: list[str] = []
    for hot in hots:
        for kind in ("sent", "failed"):
            docs = documents(hot / kind)
            recs = receipts(hot / kind)
            assert len(docs) == len(recs), f"{hot / kind}: {len(docs)} documents but {len(recs)} receipts"
            for doc in docs:
                digest = sha(doc.read_bytes())
                filed[digest] += 1
                rec = _receipt_for(doc)
                assert rec.get("sha256") == digest, (
                    f"{doc.name}: receipt sha256 {rec.get('sha256')} is not the filed bytes' {digest} ({kind}, {rec})"
                )
                refs.append(rec["reference"])
                rep.outcomes[str(rec["outcome"])] += 1
                if rec["outcome"] in ("delivered", "accepted"):
                    assert kind == "sent", f"{doc.name}: outcome {rec['outcome']} filed in {kind}/"
                    accepted_refs.append(rec["reference"])
            rep.sent += len(docs) if kind == "sent" else 0
            rep.failed += len(docs) if kind == "failed" else 0
    rep.losses = sum((wanted - filed).values())
    extra = filed - wanted
    assert not extra, f"filed documents that were never dropped (or filed twice): {dict(extra)}"
    assert rep.losses == 0, f"{rep.losses} inputs lost: {dict(wanted - filed)}"
    assert len(refs) == len(set(refs)), "two filed documents share one job reference"

    subs = ledger(emulator)["submissions"]
    rep.submissions = len(subs)
    per_ref = Counter(str(s["job_id"]) for s in subs)
    per_sha = Counter(_content_of(s, wanted) for s in subs)
    dup_refs = {r: n for r, n in per_ref.items() if n > 1}
    dup_shas = {h: n for h, n in per_sha.items() if n > wanted.get(h, 0)}
    rep.duplicates = len(dup_refs) + len(dup_shas)
    assert not dup_refs, f"references submitted more than once: {dup_refs}"
    assert not dup_shas, f"contents submitted more often than dropped: {dup_shas}"
    for ref in accepted_refs:
        assert per_ref[ref] == 1, f"{ref} is in sent/ but the emulator has {per_ref[ref]} submissions for it"
    assert all(str(s["job_id"]) in set(refs) for s in subs), "a submission whose job was never filed"

    for hot in hots:
        # Every instance's area (and adopted areas in them); retried/ keeps receipts on purpose.
        left = sorted(p.name for p in (hot / ".faxdropd").rglob("*__*") if "retried" not in p.parts)
        assert left == [], f"work area of {hot} not empty: {left[:5]}"
        stray = sorted(p.name for p in hot.iterdir() if p.is_file() and not p.name.startswith("."))
        assert stray == [], f"documents left in {hot}: {stray[:5]}"

    db = sqlite3.connect(f"file:{state_dir / 'journal.sqlite3'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    unfinished = [r for r in journal_rows(state_dir) if r[1] not in FINAL_STATES]
    assert unfinished == [], f"jobs not final after quiescence: {unfinished[:5]}"
    if all_sent:
        assert rep.failed == 0, f"expected every input in sent/, outcomes: {dict(rep.outcomes)}"
    return rep


def _receipt_for(doc: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(doc.with_name(doc.name + ".receipt.json").read_text())
    return data


def _content_of(submission: dict[str, Any], wanted: Counter[str]) -> str:
    """The dropped document a submission carried: a cover page goes first in the same fax, so the whole body's hash
    is no input's; the one part that was dropped is."""
    for digest in submission.get("document_sha256") or []:
        if digest in wanted:
            return str(digest)
    return str(submission["sha256"])
