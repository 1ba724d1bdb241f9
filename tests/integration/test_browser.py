"""A real browser on the LangServe playgrounds (harness/browser.py says which, and how)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import pytest

from harness.browser import ANSWER_WAIT, console_errors, screenshot, type_into

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.integration
pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev lock has it: ./startup.sh)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


def test_playground_answers_a_question_in_a_real_browser(api, browser):
    browser.get(f"{api.url}/mentor/playground/")
    wait = WebDriverWait(browser, 60)
    question = wait.until(ec.element_to_be_clickable((By.ID, "#/properties/question-input")))
    type_into(browser, question, "What does range(5) produce?")
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
        shot = screenshot(browser, "playground.png")
    assert shot.stat().st_size > 10_000
    match = re.search(r'"answer":\s*"((?:[^"\\]|\\.)*)"', body)
    assert match and match.group(1).strip(), f"no answer text on the page: {body[-2000:]}"
    assert '"sources"' in body and "week02/control_flow.md" in body, body[-2000:]
    assert not console_errors(browser), console_errors(browser)


def test_chat_playground_conversation_in_a_real_browser(api, browser):
    browser.get(f"{api.url}/mentor/chat/playground/")
    wait = WebDriverWait(browser, 60)
    box = wait.until(ec.element_to_be_clickable((By.TAG_NAME, "textarea")))
    type_into(browser, box, "What is a list comprehension?")
    box.send_keys("\n")  # Enter sends, as for a person

    def sources_shown(driver: Chrome) -> str | bool:
        # the whole page's text, scrolled out of the chat panel or not (a long answer pushes the question out
        # of view, and Selenium's .text leaves out what is not in view)
        body = str(driver.execute_script("return document.body.innerText"))
        return body if "Sources:" in body and "lists_and_comprehensions.md" in body else False

    try:
        body = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=1).until(sources_shown)
    finally:
        time.sleep(1)
        screenshot(browser, "chat_playground.png")
    # the question sits in an editable box (not page text): the answer is what comes before its sources
    answer = body.rsplit("Sources:", 1)[0].split("SYSTEM", 1)[-1]
    assert len(answer.strip()) > 20 and "comprehension" in answer.lower(), body[:2000]
    assert not console_errors(browser), console_errors(browser)
