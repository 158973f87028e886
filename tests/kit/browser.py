"""A real browser for the front-desk page: headless Chromium driven by selenium through Debian's chromedriver.

Selenium is pointed at /usr/bin/chromedriver and /usr/bin/chromium explicitly, so it never tries to download
a driver (Selenium Manager). Without them (or selenium) the test skips with the reason; under CI=true that
skip fails (tests/conftest.py), because .ci/run installs `chromium chromium-driver`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER = "/usr/bin/chromedriver"


def _chromium() -> str | None:
    for path in CHROMIUM:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("chromium")


def new_browser(download_dir: Path | None = None, width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium; the caller quits it. Skips the test when the browser or its driver is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    binary = _chromium()
    if binary is None or not os.access(CHROMEDRIVER, os.X_OK):
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir)})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = new_browser(tmp_path / "downloads")
    try:
        yield driver
    finally:
        driver.quit()
