"""`faxdropd demo`: the whole daemon on the built-in emulator, with a sample document travelling to sent/."""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from faxdropd import log
from faxdropd.cli.context import start_embedded
from faxdropd.config import load_config
from faxdropd.config.model import FAILED_DIR, SENT_DIR
from faxdropd.document.sample import make_sample_pdf
from faxdropd.errors import FaxdropError
from faxdropd.files import names

CONFIG = """\
# Written by `faxdropd demo`: the daemon on the built-in InterFAX emulator.
interfax:
  url: embedded            # start the emulator on 127.0.0.1
  username: demo
  password_env: FAXDROPD_DEMO_PASSWORD
state_dir: {state}
workers: 2
log: {{format: console, level: info}}
delivery: {{track: true, poll_interval: 2s, reconcile_grace: 2s}}
defaults:
  stable_seconds: 1
  rescan_interval: 10s
  allow: ["+9999999*"]     # the InterFAX simulator numbers: +9999999<status>
folders:
  - path: {inbox}
    to: "+99999990"        # simulator number whose fax ends with status 0 (delivered)
    fax: {{contact: "faxdropd demo", subject: "demo {{name}}"}}
"""


def _watch(inbox: Path, console: Console, stop: threading.Event) -> None:
    sample = inbox / "sample-invoice.pdf"
    time.sleep(1.0)
    tmp = inbox / ".sample-invoice.pdf.part"
    # Stamped so that each run's sample differs: a second demo in the same folder is sent again instead of
    # being refused as a duplicate of the first (limits.duplicate_window).
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    tmp.write_bytes(make_sample_pdf(pages=2, text=f"faxdropd demo: sample invoice of {stamp}"))
    tmp.rename(sample)  # written under a hidden name, then renamed into place, as a careful scanner does
    console.print(f"[bold]dropped[/] {sample}")
    # Receipts already there from an earlier run are not news.
    pattern = f"*{names.RECEIPT_SUFFIX}"
    seen = {r.name for r in (inbox / SENT_DIR).glob(pattern)} | {r.name for r in (inbox / FAILED_DIR).glob(pattern)}
    while not stop.wait(0.5):
        for receipt in sorted((inbox / SENT_DIR).glob(pattern)) + sorted((inbox / FAILED_DIR).glob(pattern)):
            if receipt.name in seen:
                continue
            seen.add(receipt.name)
            data = json.loads(receipt.read_text())
            document = names.document_of(receipt).name
            colour = "green" if receipt.parent.name == SENT_DIR else "red"
            console.print(f"[bold {colour}]filed[/] {receipt.parent / document}\n  {data['reason']}")
            console.print(f"  receipt: {receipt}")
            brief = {
                k: data.get(k)
                for k in (
                    "job_id",
                    "outcome",
                    "status",
                    "to",
                    "transaction_ids",
                    "pages",
                    "pages_sent",
                    "cost",
                    "submitted_at",
                    "completed_at",
                )
            }
            console.print_json(json.dumps(brief))
            console.print("[dim]drop more files into the inbox, or press Ctrl-C to stop[/]")


def run_demo(directory: Path, duration: float | None) -> int:
    from faxdropd.daemon.service import Daemon

    console = Console(stderr=True)
    directory = directory.resolve()
    inbox = directory / "inbox"
    state = directory / "state"
    inbox.mkdir(parents=True, exist_ok=True)
    config_file = directory / "faxdropd.yaml"
    config_file.write_text(CONFIG.format(state=state, inbox=inbox))
    config_file.chmod(0o600)
    # A random password for the embedded emulator, not "demo": every registered secret is masked in the logs,
    # and "demo" would turn each path under ./faxdropd-demo/ into "./faxdropd-***/".
    os.environ.setdefault("FAXDROPD_DEMO_PASSWORD", secrets.token_urlsafe(16))
    cfg = load_config(config_file)
    log.configure(cfg.log.format, cfg.log.level, libraries=cfg.log.libraries)
    console.print(f"[bold]faxdropd demo[/] in {directory}\n  hot folder: {inbox}\n  config:     {config_file}")
    stop = threading.Event()
    with ExitStack() as stack:
        start_embedded(cfg, stack, store=directory / "emulator-store", status_delay=3.0)
        console.print(f"  emulator:   {cfg.interfax.url}")
        daemon = Daemon(cfg, config_file)
        watcher = threading.Thread(target=_watch, args=(inbox, console, stop), daemon=True)
        watcher.start()
        if duration is not None:
            timer = threading.Timer(duration, daemon.request_stop)
            timer.daemon = True
            timer.start()
        try:
            return daemon.run()
        except FaxdropError as exc:  # e.g. another demo already running in this folder (journal locked)
            console.print(f"[bold red]faxdropd demo:[/] {exc}")
            return 1
        finally:
            stop.set()
