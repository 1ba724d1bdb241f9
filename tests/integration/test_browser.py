"""A real browser on the playgrounds: headless Debian Chromium driven by Selenium through Debian's chromedriver.

Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages chromium, chromium-driver) and the
PyPI package selenium; skipped when any is missing. Nothing is downloaded: the driver path is given, so
Selenium Manager is never asked for a browser. Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PROJECT_ROOT

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.integration
webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

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


@pytest.fixture
def browser() -> Iterator[Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver packages")
    profile = tempfile.mkdtemp(prefix="mentor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _screenshot(driver: Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def _console_errors(driver: Chrome) -> list[str]:
    try:
        return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    except WebDriverException:
        return []


def _type_into(driver: Chrome, element, text: str) -> None:  # type: ignore[no-untyped-def]
    element.click()
    element.send_keys(text)


def test_playground_answers_a_question_in_a_real_browser(api, browser):
    browser.get(f"{api.url}/mentor/playground/")
    wait = WebDriverWait(browser, 60)
    question = wait.until(ec.element_to_be_clickable((By.ID, "#/properties/question-input")))
    _type_into(browser, question, "What does range(5) produce?")
    start = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Start']")))
    start.click()

    # The output panel shows the streamed chunks: {"token": ...} while the answer is written, then the final
    # output ({"answer": ..., "sources": ...}); "Loading..." disappears when the stream ends.
    def finished(driver: Chrome) -> str | bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return body if '"answer"' in body and "Loading..." not in body else False

    try:
        body = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=1).until(finished)
        # a window as tall as the page, so the picture holds the question, the tokens and the final answer
        height = browser.execute_script("return document.body.scrollHeight")
        browser.set_window_size(1280, min(int(height) + 100, 12000))
    finally:
        time.sleep(1)  # let the last chunk render before the picture
        shot = _screenshot(browser, "playground.png")
    assert shot.stat().st_size > 10_000
    match = re.search(r'"answer":\s*"((?:[^"\\]|\\.)*)"', body)
    assert match and match.group(1).strip(), f"no answer text on the page: {body[-2000:]}"
    assert '"sources"' in body and "week02/control_flow.md" in body, body[-2000:]
    assert not _console_errors(browser), _console_errors(browser)


def test_chat_playground_conversation_in_a_real_browser(api, browser):
    browser.get(f"{api.url}/mentor/chat/playground/")
    wait = WebDriverWait(browser, 60)
    box = wait.until(ec.element_to_be_clickable((By.TAG_NAME, "textarea")))
    _type_into(browser, box, "What is a list comprehension?")
    box.send_keys("\n")  # Enter sends, as for a person

    def sources_shown(driver: Chrome) -> str | bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return body if "Sources:" in body and "lists_and_comprehensions.md" in body else False

    try:
        body = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=1).until(sources_shown)
    finally:
        time.sleep(1)
        _screenshot(browser, "chat_playground.png")
    answer = body.split("What is a list comprehension?", 1)[1].split("Sources:", 1)[0]
    assert len(answer.strip()) > 20, body[:2000]
    assert not _console_errors(browser), _console_errors(browser)
