"""The Practise tab of /chat and the Practice section of /instructor in a real browser (issue 29, surfaces).

A student takes a quiz on a module of the course with the keyboard, gets one item right (its key read from the
item bank in-process, built from the same files) and one wrong, sees the feedback with its source sentence and
opens the cited file, sees the next review and their mastery move; the instructor sees the miss. At phone width
the tab works too, with choose-the-term radios. No model answers here: study mode is built and graded in code,
so the API runs without an LLM server (its URL points nowhere) and the course is ingested only so its files open.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from harness.browser import ARTIFACTS, console_errors, screenshot, type_into
from harness.servers import ApiServer, Deployment
from study.bank import Bank, BankCache
from tests.conftest import COURSE

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.integration
pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev lock has it: ./startup.sh)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

STUDENT, INSTRUCTOR = "practise-student-key", "practise-instructor-key"
GLOSSARY = (
    "# Glossary\n\n"
    "keyword: A reserved word that the language uses to parse a program.\n\n"
    "- **operand**: One of the values on which an operator operates.\n\n"
    "An assertion is simply a statement that something must be true at a certain point in a program.\n\n"
    "A tuple is an immutable sequence of values, written with parentheses.\n"
)


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """week02 of the shipped course, a glossary (choose-the-term items) and a module with nothing to quiz on."""
    root = tmp_path_factory.mktemp("practise") / "course"
    (root / "week02").mkdir(parents=True)
    shutil.copy(COURSE / "week02" / "control_flow.md", root / "week02")
    (root / "week06").mkdir()
    (root / "week06" / "glossary.md").write_text(GLOSSARY)
    (root / "week09").mkdir()
    (root / "week09" / "plan.md").write_text("# Week 9\n\nRevision week: bring your questions.\n")
    return root


@pytest.fixture(scope="module")
def bank(course: Path) -> Bank:
    """The server's item bank, built here from the same files: the test reads the right answer from it."""
    return BankCache([course], [course / "instructor_answers"]).get()


@pytest.fixture(scope="module")
def server(course: Path) -> Iterator[ApiServer]:
    deployment = Deployment.create(course.parent, "http://127.0.0.1:9/v1", INGEST_ROOTS=json.dumps([str(course)]))
    api = ApiServer.on_free_port(deployment, course.parent / "api.log")
    api.extra_env = {"MENTOR_API_KEY": STUDENT, "INSTRUCTOR_API_KEY": INSTRUCTOR}
    api.start()
    ingested = httpx.post(f"{api.url}/api/ingest", json={"directory": str(course)},
                          headers={"X-API-Key": INSTRUCTOR}, timeout=300)  # fmt: skip
    assert ingested.status_code == 200 and ingested.json()["summary"]["failed"] == 0, ingested.text
    yield api
    api.stop()


def _enter_key(browser: Chrome, key: str) -> None:
    dialog = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "key-dialog"))
    WebDriverWait(browser, 30).until(lambda _: dialog.is_displayed())
    type_into(browser, browser.find_element(By.ID, "key-input"), key + "\n")


def _open_practise(browser: Chrome) -> None:
    """The Practise tab, reached with the keyboard: focus the Ask tab, then the right arrow."""
    ask = browser.find_element(By.ID, "tab-ask")
    browser.execute_script("arguments[0].focus()", ask)
    ask.send_keys(Keys.ARROW_RIGHT)
    practise = browser.find_element(By.ID, "tab-practise")
    assert practise.get_attribute("aria-selected") == "true" and ask.get_attribute("aria-selected") == "false"
    assert browser.switch_to.active_element == practise
    assert browser.find_element(By.ID, "practise-panel").is_displayed()
    assert not browser.find_element(By.ID, "ask-panel").is_displayed()


def _start(browser: Chrome, module: str) -> None:
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"#quiz-module option[value={module}]"))
    Select(browser.find_element(By.ID, "quiz-module")).select_by_value(module)
    browser.find_element(By.ID, "quiz-start").send_keys(Keys.ENTER)


def _item(browser: Chrome, number: int) -> tuple[str, str]:
    """The item shown as the quiz's `number`th: its id and kind."""
    WebDriverWait(browser, 30).until(
        lambda d: (
            d.find_element(By.ID, "quiz-item").is_displayed()
            and d.find_element(By.ID, "quiz-count").text.startswith(f"Question {number} of")
        )
    )
    item = browser.find_element(By.ID, "quiz-item")
    return str(item.get_attribute("data-item-id")), str(item.get_attribute("data-kind"))


def _answer(browser: Chrome, bank: Bank, item_id: str, right: bool) -> dict[str, str]:
    """Answer with the keyboard (the right key from the bank, or a wrong one), then read the feedback."""
    item = bank.by_id[item_id]
    if item.options:
        choice = item.key if right else next(o for o in item.options if o != item.key)
        radio = browser.find_element(By.CSS_SELECTOR, f'#quiz-options input[value="{choice}"]')
        browser.execute_script("arguments[0].focus()", radio)
        radio.send_keys(Keys.SPACE)
        browser.find_element(By.ID, "quiz-check").send_keys(Keys.ENTER)
    else:
        box = browser.find_element(By.ID, "quiz-text")
        assert browser.switch_to.active_element == box, "the answer field has the focus"
        box.send_keys((item.key if right else "zzz") + "\n")
    feedback = WebDriverWait(browser, 30).until(
        lambda d: (f := d.find_element(By.ID, "quiz-feedback")).is_displayed() and f
    )
    link = browser.find_element(By.ID, "quiz-cite")
    return {
        "correct": str(feedback.get_attribute("data-correct")),
        "verdict": browser.find_element(By.ID, "quiz-verdict").text,
        "expected": browser.find_element(By.ID, "quiz-expected").text,
        "quote": browser.find_element(By.ID, "quiz-quote").text,
        "cite": link.text,
        "href": str(link.get_attribute("href")),
        "review": browser.find_element(By.ID, "quiz-review").text,
        "key": item.key,
        "quote_expected": item.quote,
    }


def _mastery(browser: Chrome, module: str) -> str:
    rows = browser.find_elements(By.CSS_SELECTOR, f'#quiz-mastery tr[data-module="{module}"] td')
    return rows[-1].text if rows else ""


def test_a_quiz_right_and_wrong_with_the_source_opened_and_the_instructor_seeing_the_miss(server, bank, browser):
    started = time.monotonic()
    browser.get(server.url + "/chat")
    _enter_key(browser, STUDENT)
    _open_practise(browser)
    _start(browser, "week02")
    # The Practise tab's script is loaded when the tab opens: the page with it stays light (the Ask tab alone
    # keeps to test_web_pages' 60 KB; the Practise tab adds practise.js, 12 KB).
    loaded = browser.execute_script(
        "return [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]"
        ".filter(e => !['fetch', 'xmlhttprequest'].includes(e.initiatorType)).map(e => [e.name, e.decodedBodySize])"
    )
    assert any(url.endswith("/static/practise.js") for url, _ in loaded), loaded
    assert all(url.startswith(server.url + "/") for url, _ in loaded), loaded
    assert sum(size for _, size in loaded) <= 72_000, loaded

    first, _ = _item(browser, 1)
    assert bank.by_id[first].module == "week02"
    assert browser.find_element(By.ID, "quiz-prompt").text == bank.by_id[first].prompt
    right = _answer(browser, bank, first, right=True)
    assert right["correct"] == "true" and right["verdict"] == "Right", right
    assert right["expected"] == right["key"] and right["quote"].split() == right["quote_expected"].split()
    assert right["cite"].startswith("week02/control_flow.md, line")
    assert "/files/week02/control_flow.md?" in right["href"] and "sig=" in right["href"]
    assert right["review"].startswith("Next review in ") and "Your mastery of week02: " in right["review"]
    WebDriverWait(browser, 10).until(lambda d: _mastery(d, "week02") not in ("", "0 %"))  # was 0 % at the start
    after_right = _mastery(browser, "week02")
    assert "(was 0 %)" in right["review"], right["review"]
    # the student id the server issued is kept in this browser, like the conversations
    kept = browser.execute_script("return localStorage.getItem('mentor.student')")
    assert kept and len(kept) == 65

    # the cited file opens at the cited line, the quoted sentence in it
    before = set(browser.window_handles)
    browser.find_element(By.ID, "quiz-cite").send_keys(Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: len(set(d.window_handles) - before) == 1)
    browser.switch_to.window((set(browser.window_handles) - before).pop())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert "/files/week02/control_flow.md" in browser.current_url
    assert right["key"] in browser.find_element(By.TAG_NAME, "body").text
    browser.close()
    browser.switch_to.window(before.pop())

    browser.find_element(By.ID, "quiz-next").send_keys(Keys.ENTER)
    second, _ = _item(browser, 2)
    wrong = _answer(browser, bank, second, right=False)
    assert wrong["correct"] == "false" and wrong["verdict"] == "Not quite", wrong
    assert wrong["expected"] == wrong["key"] and wrong["quote"]
    assert wrong["review"].startswith("Next review in ") and "minute" in wrong["review"], "a miss comes back soon"
    # a miss of another item leaves mastery (the share of the module's items last answered right) as it was
    row = '#quiz-mastery tr[data-module="week02"]'
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.CSS_SELECTOR, row).text.startswith("week02 2 of "))
    assert _mastery(browser, "week02") == after_right
    screenshot(browser, "practise-desktop.png")
    assert not console_errors(browser), console_errors(browser)

    # the class view: the miss, with its answer and a link to its source
    browser.get(server.url + "/instructor")
    _enter_key(browser, INSTRUCTOR)
    row = WebDriverWait(browser, 30).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'#practice-missed tr[data-item-id="{second}"]')
    )[0]
    assert "1 of 1" in row.text and wrong["key"] in row.text and "week02" in row.text
    assert "/files/week02/" in str(row.find_element(By.TAG_NAME, "a").get_attribute("href"))
    accuracy = browser.find_element(By.ID, "practice-accuracy").text
    assert "week02" in accuracy and "50 %" in accuracy, accuracy
    screenshot(browser, "practise-instructor.png")
    assert not console_errors(browser), console_errors(browser)
    assert time.monotonic() - started < 60


def test_the_practise_tab_at_phone_width_with_choices_and_clear_errors(server, bank, browser):
    axe_selenium = pytest.importorskip("axe_selenium_python", reason="the dev lock has axe-selenium-python")
    browser.set_window_size(390, 844)
    browser.get(server.url + "/chat")
    _enter_key(browser, STUDENT)
    _open_practise(browser)
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= 390, f"nothing wider than the phone: {width}px"

    _start(browser, "week09")  # a module with nothing to quiz on: the server's sentence, shown as it is
    WebDriverWait(browser, 30).until(lambda d: "no quiz items in week09" in d.find_element(By.ID, "quiz-status").text)
    assert not browser.find_element(By.ID, "quiz-item").is_displayed()

    _start(browser, "week06")
    item_id, kind = _item(browser, 1)
    while kind != "choose_the_term":  # kinds alternate: a choose-the-term item is among the first four
        _answer(browser, bank, item_id, right=True)
        browser.find_element(By.ID, "quiz-next").send_keys(Keys.ENTER)
        item_id, kind = _item(browser, int(browser.find_element(By.ID, "quiz-count").text.split()[1]))
    radios = browser.find_elements(By.CSS_SELECTOR, '#quiz-options input[type="radio"]')
    assert len(radios) == 4 and not browser.find_element(By.ID, "quiz-text").is_displayed()
    graded = _answer(browser, bank, item_id, right=True)
    assert graded["correct"] == "true" and graded["cite"].startswith("week06/glossary.md")
    assert browser.find_element(By.ID, "quiz-next").is_displayed()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390

    axe = axe_selenium.Axe(browser)
    axe.inject()
    results = axe.run()
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    (ARTIFACTS / "axe-practise-390.json").write_text(json.dumps(results["violations"], indent=1))
    screenshot(browser, "practise-phone.png")
    assert not serious, axe.report(serious)

    browser.find_element(By.ID, "new-conversation").send_keys(Keys.ENTER)  # back to asking: the Ask tab opens
    assert browser.find_element(By.ID, "tab-ask").get_attribute("aria-selected") == "true"
    assert browser.switch_to.active_element == browser.find_element(By.ID, "question")
