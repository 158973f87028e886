"""Headless Chromium through selenium, using Debian's `chromium` and `chromium-driver` packages only."""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._util import unavailable

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMEDRIVER = "/usr/bin/chromedriver"
# /usr/bin/chromium is Debian's launcher script (it adds the flags from /etc/chromium.d); the ELF is the fallback.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")

DESKTOP = (1280, 900)
PHONE = (390, 844)


class BrowserUnavailable(RuntimeError):
    """selenium, chromium or chromedriver is missing."""


def find_chromium() -> tuple[str, str]:
    """(browser binary, driver binary) from Debian's packages."""
    try:
        import selenium  # noqa: F401
    except ImportError as err:
        raise BrowserUnavailable("selenium is not installed (pip install selenium)") from err
    browser = next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None)
    if browser is None:
        raise BrowserUnavailable("chromium not found (apt-get install chromium)")
    driver = CHROMEDRIVER if os.access(CHROMEDRIVER, os.X_OK) else shutil.which("chromedriver")
    if driver is None:
        raise BrowserUnavailable("chromedriver not found (apt-get install chromium-driver)")
    return browser, driver


class SeleniumManagerCalled(RuntimeError):
    """selenium tried to run selenium-manager, which would try to download a driver or a browser."""


@contextlib.contextmanager
def selenium_manager_forbidden() -> Iterator[None]:
    """Make any use of selenium-manager raise instead of reaching for the network.

    Selenium skips its manager when the Service is given an explicit driver path; this guard turns a
    regression of that (a selenium upgrade, a missing path) into a clear error rather than a hang.
    """
    from selenium.webdriver.common.selenium_manager import SeleniumManager

    original = SeleniumManager.binary_paths

    def refuse(self: SeleniumManager, *args: Any, **kwargs: Any) -> dict[str, str]:
        raise SeleniumManagerCalled(f"selenium-manager was invoked with {args!r}; no driver may be downloaded")

    SeleniumManager.binary_paths = refuse  # type: ignore[method-assign]
    try:
        yield
    finally:
        SeleniumManager.binary_paths = original  # type: ignore[method-assign]


def new_driver(width: int = DESKTOP[0], height: int = DESKTOP[1]) -> WebDriver:
    """Start a headless Chromium with a fresh temporary profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        # Root in a container has no user namespace for the sandbox.
        "--no-sandbox",
        # /dev/shm is often tiny in containers and Chromium crashes when it fills up.
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
    ):
        options.add_argument(arg)
    service = Service(executable_path=driver_path)
    with selenium_manager_forbidden():
        return webdriver.Chrome(service=service, options=options)


def screenshot(driver: WebDriver, path: Path | str, width: int, height: int) -> Path:
    """Save a PNG of the current page rendered in a `width` x `height` viewport (CSS pixels, scale 1).

    The viewport is set through the DevTools protocol rather than by resizing the window, because a headless
    window's size includes browser chrome and would not give an exact phone-sized viewport. Widths under
    600 are rendered as a mobile device, so a page's meta viewport and phone media queries apply.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    try:
        if not driver.save_screenshot(str(out)):
            raise RuntimeError(f"chromium could not write a screenshot to {out}")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return out


def png_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from a PNG's header; ValueError if the file is not a PNG."""
    head = Path(path).read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        raise ValueError(f"{path} is not a PNG file")
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


@pytest.fixture(scope="module")
def _browser_session() -> Iterator[WebDriver]:
    # Starting Chromium costs about a second, so one browser serves a whole module; `browser` resets it per test.
    try:
        find_chromium()
    except BrowserUnavailable as err:
        unavailable(str(err))
    driver = new_driver()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(_browser_session: WebDriver) -> WebDriver:
    """A headless Chromium (selenium WebDriver) on a blank page, with no cookies and the desktop viewport."""
    driver = _browser_session
    driver.get("about:blank")
    driver.delete_all_cookies()
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return driver
