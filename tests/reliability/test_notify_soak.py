"""The SIGKILL soak with notifications on: documents that deliver, fail and are rejected arrive while the daemon
is killed and restarted; the mail server (aiosmtpd, STARTTLS + AUTH) and the webhook receiver live in the test.

Asserted, every figure of the FIGURE line (test "notify_soak", collected by tests/reliability/report.py into
docs/RELIABILITY.md): each file's outcome is the one its name asks for; every outcome is notified at least once by
mail and by webhook; a duplicate (a resend after a kill between delivery and its record) carries the same
Message-ID / X-Faxdropd-Delivery and the same content, and there are no more of them than kills; one outcome never
becomes two notifications; the outbox ends with everything sent. FAXDROPD_NOTIFY_SOAK_FILES (default 40) and
FAXDROPD_SOAK_SEED (default 20261204, printed in the figure and every assertion message) choose the run.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from daemonkit import receipts, wait_for
from notifykit import SMTP_PASSWORD, WEBHOOK_SECRET, MailServer, WebhookReceiver, make_pki

from faxdropd.document.sample import make_sample_pdf
from reliability.rig import Rig, make_emulator

pytestmark = pytest.mark.reliability

FILES = int(os.environ.get("FAXDROPD_NOTIFY_SOAK_FILES", "40"))
SEED = int(os.environ.get("FAXDROPD_SOAK_SEED", "20261204"))
FAIL = "+99999993931"  # the simulator ends a fax to +9999999<code> with status <code>


def _name(i: int, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.4:
        return f"ok-{i:03}.pdf"
    if roll < 0.7:
        return f"fax={FAIL} failed-{i:03}.pdf"
    return f"fax=abc rejected-{i:03}.pdf"


def _outbox(state: Path) -> list[dict[str, object]]:
    db = sqlite3.connect(f"file:{state / 'journal.sqlite3'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT id, job_id, channel, event, state FROM outbox")]
    finally:
        db.close()


def test_sigkill_soak_with_notifications(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    mail = MailServer(make_pki(tmp_path / "pki")).start()
    hooks = WebhookReceiver().start()
    secret = tmp_path / "webhook-secret"
    secret.write_text(WEBHOOK_SECRET)
    secret.chmod(0o600)
    notify = {
        "smtp": mail.smtp_config(),
        "webhook_secret_file": str(secret),
        "on": ["delivered", "failed", "rejected"],
        "email": ["frontdesk@example.org"],
        "webhooks": [hooks.url],
        "retry_initial": 0.2,
        "retry_cap": 1,
    }
    emulator = make_emulator(tmp_path / "store")
    rig = Rig(tmp_path, emulator, track=True, extra={"notify": notify})
    rig.daemon.env = {"FAXDROPD_SMTP_PASSWORD": SMTP_PASSWORD}
    names = [_name(i, rng) for i in range(FILES)]
    gap = 8.0 / FILES
    errors: list[BaseException] = []

    def dropper() -> None:
        try:
            for i, name in enumerate(names):
                rig.drop(name, make_sample_pdf(text=f"notify soak {SEED} {i}"))
                time.sleep(gap)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=dropper, name="dropper")
    started = time.monotonic()
    try:
        rig.start()
        thread.start()
        # Kills keep coming until some time after the last drop, so they land among mails being sent too.
        while thread.is_alive() or time.monotonic() - started < 20:
            time.sleep(rng.uniform(0.3, 2.0))
            assert rig.running, f"seed={SEED}: daemon died on its own:\n{rig.daemon.log_text()[-3000:]}"
            rig.kill()
            rig.start()
        thread.join()
        assert not errors, errors
        rig.quiesce()
        report = rig.check()
        wait_for(lambda: all(r["state"] == "sent" for r in _outbox(rig.state_dir)), 300, what="every notification sent")
        rig.stop()
        filed = receipts(rig.hot / "sent") + receipts(rig.hot / "failed")
        rows = _outbox(rig.state_dir)
        mails, posts = mail.messages(), hooks.received()
    finally:
        thread.join(30)
        rig.kill()
        emulator.stop()
        mail.stop()
        hooks.stop()

    outcome = {r["job_id"]: r["outcome"] for r in filed}
    expected = Counter(_expected(n) for n in names)
    row_by_id = {str(r["id"]): r for r in rows}
    per_job = Counter((r["job_id"], r["channel"]) for r in rows)
    hook_bodies: dict[str, set[bytes]] = defaultdict(set)
    hook_problems: list[str] = []
    for post in posts:
        nid = post.headers["X-Faxdropd-Delivery"]
        body = json.loads(post.body)
        row = row_by_id.get(nid, {})
        said = (body["notification_id"], body["job_id"], body["event"])
        if not post.signed_ok or said != (nid, row.get("job_id"), outcome.get(str(row.get("job_id")))):
            hook_problems.append(nid)
        hook_bodies[nid].add(post.body)
    mail_subjects: dict[str, set[str]] = defaultdict(set)
    mail_problems: list[str] = []
    for m in mails:
        nid = str(m.message["X-Faxdropd-Notification"])
        if m.message["Message-ID"] != f"<{nid}.faxdropd@example.org>" or nid not in row_by_id:
            mail_problems.append(nid)
        mail_subjects[nid].add(str(m.message["Subject"]))
    mailed = {str(row_by_id[n]["job_id"]) for n in mail_subjects if n in row_by_id}
    posted = {str(row_by_id[n]["job_id"]) for n in hook_bodies if n in row_by_id}
    outcomes = Counter(outcome.values())
    figure = {
        "test": "notify_soak",
        "seed": SEED,
        "files": FILES,
        "kills": rig.kills,
        "delivered": outcomes["delivered"],
        "failed": outcomes["failed"],
        "rejected": outcomes["rejected"],
        "notifications": len(rows),
        "mails": len(mails),
        "mail_duplicates": len(mails) - len(mail_subjects),
        "webhooks": len(posts),
        "webhook_duplicates": len(posts) - len(hook_bodies),
        "lost": len(set(outcome) - (mailed & posted)),
        "fax_losses": report.losses,
        "fax_duplicates": report.duplicates,
    }
    print("\nFIGURE " + json.dumps(figure))
    line = f"notify soak seed={SEED} (FAXDROPD_SOAK_SEED={SEED} reproduces the files and kill intervals): {figure}"
    # Every figure printed is asserted. The files and their outcomes: each name decides its outcome.
    assert len(names) == FILES == len(outcome) == report.inputs, line
    assert {k: figure[k] for k in expected} == dict(expected), line
    assert min(expected.values()) > 0, line  # the seed's names cover every outcome
    assert rig.kills >= 5, line  # kills landed among the outcomes and the mails (every 0.3-2 s for 20 s or more)
    assert report.losses == 0 and report.duplicates == 0, line
    # One outcome, one notification per channel: exactly these rows, (job, channel) unique, all sent.
    assert len(rows) == 2 * FILES and max(per_job.values()) == 1, (line, per_job.most_common(3))
    assert set(per_job) == {(j, c) for j in outcome for c in ("email", "webhook")}, line
    # Nothing lost: every outcome reached both the mailbox and the receiver at least once.
    assert figure["lost"] == 0 and len(mail_subjects) == len(hook_bodies) == FILES, line
    # Every delivery seen names its row and says that row's job and event, signed; a duplicate is a resend of
    # the same row (same id, same content), and only a kill makes one: the sender has one delivery in flight.
    assert hook_problems == [] and mail_problems == [], (line, hook_problems[:3], mail_problems[:3])
    assert all(len(b) == 1 for b in hook_bodies.values()) and all(len(s) == 1 for s in mail_subjects.values()), line
    assert figure["mails"] == FILES + figure["mail_duplicates"], line
    assert figure["webhooks"] == FILES + figure["webhook_duplicates"], line
    assert 0 <= figure["mail_duplicates"] + figure["webhook_duplicates"] <= rig.kills, line


def _expected(name: str) -> str:
    return "delivered" if name.startswith("ok-") else "failed" if "failed-" in name else "rejected"
