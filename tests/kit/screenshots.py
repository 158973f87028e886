"""Screenshots of the front-desk page for the README: a real daemon and emulator, a few faxes, headless Chromium.

    PYTHONPATH=.:tests python tests/kit/screenshots.py docs/

Writes web-dashboard-{desktop,phone}.png and web-job-{desktop,phone}.png (1280 and 390 CSS pixels wide).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from daemonkit import PASSWORD, DaemonProcess, drop, receipts, wait_for, write_config
from selenium.webdriver.common.by import By

from faxdropd.document.sample import make_sample_pdf
from faxdropd.emulator.server import EmulatorServer
from kit.browser import new_driver

WIDTHS = {"desktop": 1280, "phone": 390}


def shoot(driver: Any, url: str, width: int, out: Path) -> None:
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 600}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get(url)
    # The whole page, not only the first screen: a viewport as tall as the document.
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": min(height, 2400)})
    driver.save_screenshot(str(out))
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def main(out_dir: Path) -> int:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        emulator = EmulatorServer(username="demo", password=PASSWORD, store=tmp / "store", status_delay=0.5)
        emulator.start()
        front, clinic = tmp / "front-desk", tmp / "clinic"
        front.mkdir()
        clinic.mkdir()
        folders = [
            {"path": str(front), "name": "front-desk", "to": "+1 212 555 0100"},
            {"path": str(clinic), "name": "clinic", "to": "+99999996017"},
        ]
        cfg = write_config(tmp, emulator.url, folders, extra={"web": {"listen": "127.0.0.1:0"}})
        daemon = DaemonProcess(cfg, tmp / "daemon.log").start()
        try:
            for name in ("Referral - Dr Patel.pdf", "Invoice 2026-118.pdf", "Prescription renewal.pdf"):
                drop(front, name, make_sample_pdf(pages=2, text=name))
            drop(clinic, "Lab results J. Smith.pdf", make_sample_pdf(pages=3, text="lab"))
            wait_for(lambda: len(receipts(front / "sent")) == 3 and receipts(clinic / "failed"), 60)
            [url] = [e["url"].rstrip("/") for e in daemon.events() if e.get("event") == "web.listening"]
            driver = new_driver()
            try:
                driver.get(url + "/")
                job = driver.find_element(By.LINK_TEXT, "Lab results J. Smith.pdf").get_attribute("href")
                for kind, width in WIDTHS.items():
                    shoot(driver, url + "/", width, out_dir / f"web-dashboard-{kind}.png")
                    shoot(driver, str(job), width, out_dir / f"web-job-{kind}.png")
            finally:
                driver.quit()
        finally:
            daemon.stop()
            emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
