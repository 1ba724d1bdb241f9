"""A real browser for the page tests and bench/web.py: headless Debian Chromium driven by Selenium through
Debian's chromedriver.

Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages chromium, chromium-driver) and the
PyPI package selenium; `chromium()` raises `BrowserMissing` when any is missing (the tests' `browser` fixture
skips on it). Nothing is downloaded: the driver path is given, so Selenium Manager is never asked for a
browser. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import PROJECT_ROOT

if TYPE_CHECKING:
    from selenium.webdriver import Chrome
    from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
ANSWER_WAIT = 240  # seconds: one answer takes a few seconds alone, much longer on a busy 2-core machine
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1100",
]


class BrowserMissing(RuntimeError):
    """Chromium, chromedriver or selenium is not installed."""


@contextmanager
def chromium(downloads: Path | None = None) -> Iterator[Chrome]:
    """A fresh browser profile; files the page downloads land in `downloads`."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise BrowserMissing("needs Debian's chromium and chromium-driver packages")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        raise BrowserMissing("needs the selenium package (pip install -e '.[dev]')") from exc
    profile = tempfile.mkdtemp(prefix="mentor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if downloads is not None:
        downloads.mkdir(parents=True, exist_ok=True)
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Chrome) -> list[str]:
    from selenium.common.exceptions import WebDriverException

    try:
        return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    except WebDriverException:
        return []


def type_into(driver: Chrome, element: WebElement, text: str) -> None:
    element.click()
    element.send_keys(text)
