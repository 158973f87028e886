"""The SIGKILL soak with notifications on: documents that deliver, fail and are rejected arrive while the daemon
is killed and restarted; the mail server (aiosmtpd, STARTTLS + AUTH) and the webhook receiver live in the test.

Asserted: every document's outcome is notified at least once by mail and by webhook, every duplicate (a resend
after a kill between delivery and its record) carries the same Message-ID / X-Faxdropd-Delivery and the same
content, one outcome never becomes two notifications, and the outbox ends with nothing pending or given up.
FAXDROPD_NOTIFY_SOAK_FILES (default 40) and FAXDROPD_SOAK_SEED choose the run.
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
    # One outcome, one notification per channel: (job, channel) pairs are unique in the outbox.
    per_job = Counter((r["job_id"], r["channel"]) for r in rows)
    assert max(per_job.values()) == 1, per_job.most_common(3)
    assert {(j, c) for j, c in per_job} == {(j, c) for j in outcome for c in ("email", "webhook")}
    row_by_id = {str(r["id"]): r for r in rows}
    # Every delivery seen names a row, and its content is that row's job and event; duplicates are identical.
    hook_bodies: dict[str, set[bytes]] = defaultdict(set)
    for post in posts:
        assert post.signed_ok
        nid = post.headers["X-Faxdropd-Delivery"]
        body = json.loads(post.body)
        assert body["notification_id"] == nid and body["job_id"] == row_by_id[nid]["job_id"]
        assert body["event"] == outcome[body["job_id"]]
        hook_bodies[nid].add(post.body)
    assert all(len(b) == 1 for b in hook_bodies.values())
    mail_subjects: dict[str, set[str]] = defaultdict(set)
    for m in mails:
        nid = m.message["X-Faxdropd-Notification"]
        assert m.message["Message-ID"] == f"<{nid}.faxdropd@example.org>" and nid in row_by_id
        mail_subjects[nid].add(str(m.message["Subject"]))
    assert all(len(s) == 1 for s in mail_subjects.values())
    # Nothing lost: every outcome reached both the mailbox and the receiver at least once.
    notified = {str(row_by_id[n]["job_id"]) for n in mail_subjects} & {str(row_by_id[n]["job_id"]) for n in hook_bodies}
    assert notified == set(outcome)
    outcomes = Counter(outcome.values())
    figure = {
        "seed": SEED,
        "files": FILES,
        "kills": rig.kills,
        "outcomes": dict(outcomes),
        "notifications": len(rows),
        "mails": len(mails),
        "mail_duplicates": len(mails) - len(mail_subjects),
        "webhooks": len(posts),
        "webhook_duplicates": len(posts) - len(hook_bodies),
        "lost": len(set(outcome) - notified),
        "fax_losses": report.losses,
        "fax_duplicates": report.duplicates,
    }
    print("\nFIGURE " + json.dumps(figure, sort_keys=True))
    assert outcomes["failed"] > 0 and outcomes["rejected"] > 0 and outcomes["delivered"] > 0, figure
    assert report.losses == 0 and report.duplicates == 0, figure
