"""The student and instructor pages in a real browser, against the real API, model and database.

Screenshots of both pages go to test-artifacts/ (copies in docs/ illustrate the README).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

from harness.browser import ANSWER_WAIT, ARTIFACTS, console_errors, screenshot, type_into
from harness.servers import ApiServer
from tests.integration.conftest import keyed_server

if TYPE_CHECKING:
    from selenium.webdriver import Chrome

pytestmark = pytest.mark.integration
pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev lock has it: ./startup.sh)")
from selenium.common.exceptions import NoSuchElementException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

TIMEOUT = httpx.Timeout(300, connect=5)
# A course page that tries to run code three ways, and teaches a <script> tag as text (which a reply may quote).
HOSTILE_PAGE = """<html><head><title>Zebra field notes</title><script>window.pwned = 1</script></head><body>
<h1 id="zebras">Zebra migration</h1>
<p onclick="window.pwned = 2">Zebras migrate each year across the Serengeti, following the rains to fresh grass.</p>
<img src="missing.png" onerror="window.pwned = 3">
<h2 id="tracking">Tracking zebras</h2>
<p>The field team's tracking page embeds the tag &lt;script&gt;window.pwned = 4&lt;/script&gt; to plot each herd.</p>
</body></html>"""
HOSTILE_REPLY = 'Zebras <script>window.pwned = 5</script><img src=x onerror="window.pwned = 6"> migrate [1].'


def _answer_done(browser: Chrome, count: int) -> Callable:
    def done(driver: Chrome):  # type: ignore[no-untyped-def]
        answers = driver.find_elements(By.CSS_SELECTOR, "article.answer")
        if len(answers) >= count and answers[count - 1].get_attribute("data-state") in ("done", "error"):
            return answers[count - 1]
        return False

    return done


def _ask(browser: Chrome, question: str, count: int = 1):  # type: ignore[no-untyped-def]
    box = browser.find_element(By.ID, "question")
    type_into(browser, box, question)
    box.send_keys("\n")  # Enter sends
    answer = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=0.5).until(_answer_done(browser, count))
    assert answer.get_attribute("data-state") == "done", answer.text
    return answer


def _click(browser: Chrome, element) -> None:  # type: ignore[no-untyped-def]
    """Click as a person would, after scrolling the element clear of the sticky question box."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _pwned(browser: Chrome) -> object:
    return browser.execute_script("return window.pwned === undefined ? null : window.pwned")


def _open_in_new_tab(browser: Chrome, link) -> str:  # type: ignore[no-untyped-def]
    """Click a link that opens a new tab; switch to it and return its URL (the caller switches back)."""
    before = set(browser.window_handles)
    _click(browser, link)
    WebDriverWait(browser, 30).until(lambda d: len(set(d.window_handles) - before) == 1)
    browser.switch_to.window((set(browser.window_handles) - before).pop())
    WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
    return str(browser.current_url)


def _source_item(answer, suffix: str):  # type: ignore[no-untyped-def]
    for item in answer.find_elements(By.CSS_SELECTOR, ".sources li.source"):
        if item.find_element(By.CSS_SELECTOR, "a.source-open").text.endswith(suffix):
            return item
    raise AssertionError(f"no {suffix} source in {answer.text}")


@pytest.fixture(scope="module")
def hostile_course(api: ApiServer) -> Iterator[str]:
    """A page with scripts, ingested through the running server; removed (and its chunks deleted) afterwards."""
    folder = api.deployment.root / "web-course"
    (folder / "week99").mkdir(parents=True)
    (folder / "week99" / "zebras.html").write_text(HOSTILE_PAGE)
    result = api.deployment.run_cli("--directory", str(folder), "--json")
    assert result.returncode == 0 and json.loads(result.stdout)["summary"]["added"] == 1, result.stderr[-2000:]
    yield "week99/zebras.html"
    (folder / "week99" / "zebras.html").unlink()
    removed = api.deployment.run_cli("--directory", str(folder), "--json")
    assert json.loads(removed.stdout)["summary"]["deleted"] == 1


def test_an_answer_streams_and_its_citations_open_the_pdf_page_and_the_notebook_cell(api, browser):
    browser.get(api.url + "/")  # a browser at / lands on the chat page
    assert browser.current_url == api.url + "/chat"
    box = browser.find_element(By.ID, "question")
    type_into(browser, box, "What is an infinite loop and how do I stop it?")
    box.send_keys("\n")
    # Tokens (checked sentences, graph/graph.py) are shown as they arrive, before the final, rendered answer.
    seen: list[str] = []
    deadline = time.monotonic() + ANSWER_WAIT
    while time.monotonic() < deadline:
        # State and text read in one script: read apart, the final render can land between them (CI saw the
        # rendered Markdown taken for a streamed token that rewrote the text before it).
        state, text = browser.execute_script(
            "const a = document.querySelector('article.answer');"
            "return a ? [a.dataset.state || null, a.querySelector('.answer-body').innerText] : [null, ''];"
        )
        if state == "streaming":
            if text and (not seen or text != seen[-1]):
                seen.append(text)
        elif state in ("done", "error"):
            break
        time.sleep(0.05)
    answer = browser.find_element(By.CSS_SELECTOR, "article.answer")
    assert answer.get_attribute("data-state") == "done", answer.text
    # The page counts what it showed before the final event (a short answer can be one event, shown briefly).
    assert int(answer.get_attribute("data-streamed-chars") or 0) > 0, "no token was shown before the final answer"
    assert int(answer.get_attribute("data-first-token-ms") or 0) > 0
    assert all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:], strict=False)), seen
    assert answer.find_element(By.CSS_SELECTOR, ".badge").text.startswith("Grounded in the course materials")

    # a citation chip highlights its source and opens the original
    chip = answer.find_element(By.CSS_SELECTOR, ".answer-body a.cite")
    n = chip.get_attribute("data-n")
    target_url = chip.get_attribute("href")
    opened = _open_in_new_tab(browser, chip)
    assert opened == target_url and "/files/" in opened
    browser.close()
    browser.switch_to.window(browser.window_handles[0])
    assert "highlight" in answer.find_element(By.ID, f"{answer.get_attribute('id')}-source-{n}").get_attribute("class")
    browser.set_window_size(1280, 1500)
    screenshot(browser, "chat-answer.png")

    pdf = _source_item(answer, ".pdf")
    page = pdf.find_element(By.CSS_SELECTOR, ".source-location").text  # "page 2"
    opened = _open_in_new_tab(browser, pdf.find_element(By.CSS_SELECTOR, "a.source-open"))
    assert opened.endswith(f"#page={page.split()[-1]}"), opened
    assert browser.execute_script("return document.contentType") == "application/pdf"
    screenshot(browser, "citation-pdf.png")  # Chromium's viewer, at the cited page
    browser.close()
    browser.switch_to.window(browser.window_handles[0])

    # A notebook cell, cited by an answer the notebook gives. Whether the infinite-loop answer above cites the
    # generators notebook too depends on the CPU: its "Generators can be infinite" cell ranked 2nd with torch and
    # 4th with int8 ONNX on an AVX-512 VNNI CPU (cosine 0.486 / 0.449), and only 3 notes were used.
    answer = _ask(browser, "Can a generator be infinite?", count=2)
    notebook = _source_item(answer, ".ipynb")
    cell = notebook.find_element(By.CSS_SELECTOR, ".source-location").text.split()[-1]
    # the excerpt's prose (a chunk may run on into the next cell's code, shown as a code block)
    excerpt = browser.execute_script(
        "const e = arguments[0].cloneNode(true); e.querySelectorAll('.code-block, .cut').forEach(c => c.remove());"
        "document.body.append(e); const text = e.innerText; e.remove(); return text;",
        notebook.find_element(By.CSS_SELECTOR, ".excerpt"),
    )
    opened = _open_in_new_tab(browser, notebook.find_element(By.CSS_SELECTOR, "a.source-open"))
    assert opened.endswith(f"#cell-{cell}"), opened
    target = browser.execute_script(
        "const t = document.querySelector(':target');"
        "return t && [t.id, t.innerText, t.getBoundingClientRect().top, window.innerHeight]"
    )
    assert target and target[0] == f"cell-{cell}" and 0 <= target[2] < target[3], target
    words = [w.strip("#`*.,:()") for w in excerpt.split()][:40]
    assert sum(w in target[1] for w in words) >= 0.8 * len(words), (excerpt, target[1][:500])
    screenshot(browser, "citation-notebook.png")
    browser.close()
    browser.switch_to.window(browser.window_handles[0])
    assert not console_errors(browser), console_errors(browser)


def test_a_refusal_is_marked_and_shows_the_closest_sources(api, browser):
    browser.get(api.url + "/chat")
    answer = _ask(browser, "What is the capital of France?")
    assert answer.get_attribute("data-grounded") == "false"
    assert answer.find_element(By.CSS_SELECTOR, ".badge").text == "Not in the course materials"
    panel = answer.find_element(By.CSS_SELECTOR, "details.sources")
    assert panel.is_displayed() and panel.find_element(By.TAG_NAME, "summary").text.startswith("Closest")
    items = panel.find_elements(By.CSS_SELECTOR, "li.source")
    assert items and all(i.find_element(By.CSS_SELECTOR, "a.source-open").get_attribute("href") for i in items)
    assert "Paris" not in answer.text
    assert not console_errors(browser), console_errors(browser)


def test_scripts_in_a_course_file_and_in_a_reply_do_not_run(api, browser, hostile_course):
    browser.get(f"{api.url}/files/{hostile_course}#tracking")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Zebras migrate each year" in body and "<script>window.pwned = 4</script>" in body  # shown as text
    assert browser.execute_script("return document.querySelector(':target').id") == "tracking"
    assert _pwned(browser) is None

    browser.get(api.url + "/chat")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#module option[value=week99]"))
    Select(browser.find_element(By.ID, "module")).select_by_value("week99")  # the module picker lists it
    answer = _ask(browser, "How does the field team track zebras?")
    assert hostile_course in answer.find_element(By.CSS_SELECTOR, ".sources").text
    # the model's own reply, whatever it quoted, and a reply crafted to attack the page
    browser.execute_script(
        "MentorChat.showFinal({answer: arguments[0], route: 'course', grounded: true, answer_id: '',"
        " sources: [{n: 1, source: arguments[1], anchor: 'zebras', snippet: arguments[0], score: 0.5}]})",
        HOSTILE_REPLY,
        hostile_course,
    )
    crafted = WebDriverWait(browser, 30).until(_answer_done(browser, 2))
    assert "Zebras <script>window.pwned = 5</script>" in crafted.text  # visible as text, not run
    assert crafted.find_elements(By.CSS_SELECTOR, ".answer-body img, .answer-body script") == []
    time.sleep(0.5)
    assert _pwned(browser) is None
    assert not console_errors(browser), console_errors(browser)


def test_feedback_reaches_the_instructor_page_and_the_csv_downloads(api, browser, downloads):
    browser.get(api.url + "/chat")
    question = "What does range(5) produce?"
    answer = _ask(browser, question)
    _click(browser, answer.find_element(By.XPATH, ".//button[normalize-space()='Not helpful']"))
    comment = answer.find_element(By.CSS_SELECTOR, "form.comment textarea")
    _click(browser, comment)
    comment.send_keys("It should say that 5 itself is left out.")
    _click(browser, answer.find_element(By.CSS_SELECTOR, "form.comment button[type=submit]"))
    WebDriverWait(browser, 30).until(
        lambda d: "comment was sent" in answer.find_element(By.CSS_SELECTOR, ".feedback-status").text
    )

    browser.get(api.url + "/instructor")

    def comment_listed(driver: Chrome) -> bool:
        if "5 itself is left out" in driver.find_element(By.ID, "comments").text:
            return True
        driver.find_element(By.ID, "refresh").click()  # recorded off the request path: it may lag a moment
        return False

    WebDriverWait(browser, 30, poll_frequency=1).until(comment_listed)
    missing = browser.find_element(By.ID, "unanswered").text
    assert question in missing and "thumbs down" in missing
    assert browser.find_elements(By.CSS_SELECTOR, "#top-sources tbody td:not(.hint)"), "grounded answers cite files"
    browser.set_window_size(1280, 1400)
    screenshot(browser, "instructor.png")

    browser.find_element(By.ID, "export").click()
    WebDriverWait(browser, 30).until(lambda _: list(downloads.glob("*.csv")))
    rows = list(csv.DictReader(io.StringIO(next(downloads.glob("*.csv")).read_text())))
    ours = [r for r in rows if r["question"] == question]
    assert ours and ours[0]["rating"] == "-1" and ours[0]["comment"] == "It should say that 5 itself is left out."
    assert not console_errors(browser), console_errors(browser)


def test_the_page_at_phone_width_has_labelled_controls(api, browser):
    browser.set_window_size(390, 844)
    browser.get(api.url + "/chat")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#module option")) > 1)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    for control in ("question", "send", "module", "new-conversation", "toggle-history"):
        assert browser.find_element(By.ID, control).is_displayed(), control
    unnamed = browser.execute_script(
        "return [...document.querySelectorAll('button, select, textarea, input')].filter(e => e.offsetParent)"
        ".filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())"
        ".map(e => e.outerHTML)"
    )
    assert unnamed == []
    browser.find_element(By.ID, "toggle-history").click()
    assert browser.find_element(By.ID, "history").is_displayed()


# ---- MENTOR_API_KEY set: the page asks once; citation links open in a tab that has no key ------------
KEY = "page-key-5e0c"
ADMIN_KEY = "page-admin-key-2b71"


@pytest.fixture(scope="module")
def keyed_api(llm_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = keyed_server(llm_server, tmp_path_factory.mktemp("web-keyed"), KEY, admin_key=ADMIN_KEY)
    course = str(server.deployment.root / "course")
    ingest = httpx.post(f"{server.url}/api/ingest", json={"directory": course}, headers={"X-API-Key": ADMIN_KEY})
    assert ingest.status_code == 200 and ingest.json()["summary"]["added"] == 1, ingest.text
    yield server
    server.stop()


def test_with_an_api_key_the_page_asks_once_and_links_still_open(keyed_api, browser):
    browser.get(keyed_api.url + "/chat")
    dialog = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "key-dialog"))
    WebDriverWait(browser, 30).until(lambda _: dialog.is_displayed())  # the module list needed the key
    type_into(browser, browser.find_element(By.ID, "key-input"), KEY + "\n")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#module option")) == 2)
    browser.refresh()  # the key is kept for the tab: no second prompt
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#module option")) == 2)
    assert not browser.find_element(By.ID, "key-dialog").is_displayed()
    answer = _ask(browser, "Can a tuple be a dictionary key?")
    link = answer.find_element(By.CSS_SELECTOR, ".sources a.source-open")
    assert "?exp=" in (link.get_attribute("href") or "") and "&sig=" in (link.get_attribute("href") or "")
    _open_in_new_tab(browser, link)  # a new tab sends no key: the signed link opens this one file
    assert "Because they are immutable" in browser.find_element(By.TAG_NAME, "body").text
    browser.close()
    browser.switch_to.window(browser.window_handles[0])
    with pytest.raises(NoSuchElementException):
        browser.find_element(By.CSS_SELECTOR, "article.answer .error-text")
    assert not console_errors(browser), console_errors(browser)


# ---- issue 26: quotes, excerpts, feedback under the composer, phone, reload, Stop, copy, module filter ------
WIDTHS = [(1280, 900), (390, 844)]
NOTE = """---
title: Loops
---
# Leaving a loop

::: tip
A *for* loop repeats its block once per item.

```python
for n in range(10):
    if n == 5:
        break
```

5. Use `break` to leave a loop early. The loop ends at once.
:::
"""
QUOTE = "Loops can end early.\n\n5. Use `break` to leave a loop early [1]."


def _show(browser: Chrome, final: dict, count: int, question: str = "", module: str = ""):  # type: ignore[no-untyped-def]
    browser.execute_script("MentorChat.showFinal(arguments[0], arguments[1], arguments[2])", final, question, module)
    return WebDriverWait(browser, 60).until(_answer_done(browser, count))


def _rect(browser: Chrome, element) -> dict:  # type: ignore[no-untyped-def]
    return dict(browser.execute_script("return arguments[0].getBoundingClientRect().toJSON()", element))


def _clear_of_bars(browser: Chrome, element) -> bool:  # type: ignore[no-untyped-def]
    """Whether the element is wholly between the sticky header and the sticky question box."""
    box = _rect(browser, element)
    top = _rect(browser, browser.find_element(By.CSS_SELECTOR, ".topbar"))["bottom"]
    bottom = _rect(browser, browser.find_element(By.ID, "composer"))["top"]
    return bool(box["height"] > 0 and box["top"] >= top - 1 and box["bottom"] <= bottom + 1)


@pytest.mark.parametrize("size", WIDTHS, ids=["desktop", "phone"])
def test_quotes_stay_text_and_excerpts_are_markdown_with_the_cited_sentence_marked(api, browser, size):
    browser.set_window_size(*size)
    browser.get(api.url + "/chat")
    support = [{"text": "5. Use `break` to leave a loop early [1].", "supported": True, "n": 1,
                "similarity": 0.9, "overlap": 1.0}]  # fmt: skip
    source = {"n": 1, "source": "week02/control_flow.md", "text": NOTE, "snippet": NOTE[:240], "score": 0.8}
    answer = _show(browser, {"answer": QUOTE, "route": "course", "grounded": True, "answer_id": "",
                             "sources": [source], "support": support}, 1)  # fmt: skip
    body = answer.find_element(By.CSS_SELECTOR, ".answer-body")
    assert body.find_elements(By.TAG_NAME, "ol") == [] and "5. Use break to leave a loop early" in body.text
    excerpt = answer.find_element(By.CSS_SELECTOR, ".excerpt")
    assert "```" not in excerpt.text and ":::" not in excerpt.text and "title: Loops" not in excerpt.text
    assert excerpt.find_element(By.TAG_NAME, "h1").text == "Leaving a loop"
    assert excerpt.find_element(By.CSS_SELECTOR, "mark.cited").text == "Use break to leave a loop early."
    copy = excerpt.find_element(By.CSS_SELECTOR, ".code-block button.copy")  # code gets a Copy button
    _click(browser, copy)
    WebDriverWait(browser, 10).until(lambda _: copy.text == "Copied")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(browser, f"chat-excerpt-{size[0]}.png")
    assert not console_errors(browser), console_errors(browser)


@pytest.mark.parametrize("size", WIDTHS, ids=["desktop", "phone"])
def test_feedback_controls_and_focus_never_sit_under_the_question_box(api, browser, size):
    browser.set_window_size(*size)
    browser.get(api.url + "/chat")
    long = "\n\n".join(f"Loops repeat a block, paragraph {i} [1]." for i in range(12))
    source = {"n": 1, "source": "week02/control_flow.md", "text": NOTE, "snippet": NOTE[:240], "score": 0.8}
    final = {"answer": long, "route": "course", "grounded": True, "answer_id": "0" * 32, "sources": [source]}
    answer = _show(browser, final, 1)
    _show(browser, {**final, "answer": "A second answer [1]."}, 2)
    vote = answer.find_element(By.XPATH, ".//button[normalize-space()='Helpful']")
    # the vote just above the question box, as a student scrolling down finds it
    browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(), c = document.getElementById('composer');"
        "window.scrollBy(0, r.bottom - c.getBoundingClientRect().top + 2)",
        vote,
    )
    vote.click()
    form = answer.find_element(By.CSS_SELECTOR, "form.comment")
    for part in (form.find_element(By.TAG_NAME, "textarea"), form.find_element(By.CSS_SELECTOR, "button")):
        WebDriverWait(browser, 10).until(lambda _, part=part: _clear_of_bars(browser, part))
    # keyboard: every control of the answers, focused from the top of the page, is scrolled clear of both bars
    controls = browser.find_elements(
        By.CSS_SELECTOR, "article.answer button, article.answer a, article.answer textarea"
    )
    for control in controls:
        if not control.is_displayed():
            continue
        browser.execute_script("window.scrollTo(0, 0); arguments[0].focus()", control)
        assert _clear_of_bars(browser, control), control.get_attribute("outerHTML")[:200]
    screenshot(browser, f"chat-feedback-{size[0]}.png")


def test_the_phone_header_is_one_row_and_the_drawer_closes(api, browser):
    browser.set_window_size(390, 844)
    browser.get(api.url + "/chat")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#module option")) > 1)
    tops = browser.execute_script(
        "return [...document.querySelectorAll('.topbar > *')].filter(e => e.offsetParent)"
        ".map(e => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; })"
    )
    assert len(tops) == 4 and max(t for t, _ in tops) < min(b for _, b in tops), tops  # one row
    assert browser.find_element(By.CSS_SELECTOR, ".topbar").size["height"] <= 60
    # the placeholder, laid out in the box's own width and font, fits the box
    fits = browser.execute_script(
        "const box = document.getElementById('question'), s = getComputedStyle(box);"
        "const probe = document.createElement('div');"
        "for (const p of ['font', 'padding', 'border', 'box-sizing', 'line-height', 'letter-spacing'])"
        "  probe.style.setProperty(p, s.getPropertyValue(p));"
        "probe.style.width = box.offsetWidth + 'px'; probe.style.position = 'absolute';"
        "probe.textContent = box.placeholder; document.body.append(probe);"
        "const ok = probe.offsetHeight <= box.offsetHeight; probe.remove(); return ok;"
    )
    assert fits
    toggle = browser.find_element(By.ID, "toggle-history")
    toggle.click()
    close = browser.find_element(By.ID, "close-history")
    assert browser.find_element(By.ID, "history").is_displayed() and close.is_displayed()
    assert browser.switch_to.active_element == close
    close.click()
    assert not browser.find_element(By.ID, "history").is_displayed()
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert browser.find_element(By.ID, "history").is_displayed()
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert not browser.find_element(By.ID, "history").is_displayed()
    assert browser.switch_to.active_element == toggle
    screenshot(browser, "chat-phone.png")
    assert not console_errors(browser), console_errors(browser)


def test_stop_keeps_what_was_written_and_a_reload_reopens_the_conversation(api, browser):
    browser.get(api.url + "/chat")
    box = browser.find_element(By.ID, "question")
    type_into(browser, box, "Explain how a while loop works, with an example.")
    box.send_keys("\n")
    stop = browser.find_element(By.ID, "stop")
    # Stop is pressed in the same turn of the page's event loop that sees text streaming: a separate WebDriver click
    # came after a fast answer had ended and the button was hidden ("element not interactable", on an AVX-512 CPU).
    WebDriverWait(browser, ANSWER_WAIT, poll_frequency=0.05).until(
        lambda d: d.execute_script(
            "const a = document.querySelector('article.answer'), stop = document.getElementById('stop');"
            "const writing = a && a.dataset.state === 'streaming' && a.querySelector('.streaming-text').textContent;"
            "if (writing && stop.offsetParent !== null) { stop.click(); return true; } return false;"
        )
    )
    answer = WebDriverWait(browser, 30).until(
        lambda d: (
            (a := d.find_element(By.CSS_SELECTOR, "article.answer")).get_attribute("data-state") != "streaming" and a
        )
    )
    assert answer.get_attribute("data-state") == "stopped", answer.text
    assert answer.find_element(By.CSS_SELECTOR, ".badge").text.startswith("Stopped")
    assert answer.find_elements(By.CSS_SELECTOR, ".error-text") == []
    written = answer.find_element(By.CSS_SELECTOR, ".answer-body").text
    assert not stop.is_displayed() and browser.find_element(By.ID, "send").is_enabled()

    browser.refresh()  # the open conversation is reopened, the stopped answer with it
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "article.question"))
    assert browser.find_element(By.CSS_SELECTOR, "article.question").text.startswith("Explain how a while loop")
    reopened = browser.find_element(By.CSS_SELECTOR, "article.answer")
    assert reopened.get_attribute("data-state") == "stopped"
    assert reopened.find_element(By.CSS_SELECTOR, ".answer-body").text == written
    assert browser.find_element(By.CSS_SELECTOR, ".conversation-link[aria-current=true]")
    assert not console_errors(browser), console_errors(browser)


def test_a_refusal_under_a_module_filter_names_where_the_material_is_and_retries(api, browser):
    browser.get(api.url + "/chat")
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#module option[value=week01]"))
    Select(browser.find_element(By.ID, "module")).select_by_value("week01")
    question = "What is an infinite loop and how do I stop it?"
    refusal = {"answer": "I couldn't find this in the course materials.", "route": "course", "grounded": False,
               "answer_id": "", "sources": []}  # fmt: skip
    answer = _show(browser, refusal, 1, question, "week01")
    note = answer.find_element(By.CSS_SELECTOR, ".filter-note")
    assert note.is_displayed() and "filter is on (week01)" in note.text and "week02" in note.text, note.text
    _click(browser, note.find_element(By.XPATH, ".//button[normalize-space()='Search all modules']"))
    retried = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=0.5).until(_answer_done(browser, 2))
    assert retried.get_attribute("data-state") == "done" and retried.get_attribute("data-grounded") == "true"
    assert browser.find_element(By.ID, "module").get_attribute("value") == ""
    assert not console_errors(browser), console_errors(browser)


@pytest.mark.parametrize("size", WIDTHS, ids=["desktop", "phone"])
def test_no_serious_accessibility_violations_on_either_page(api, browser, size):
    """axe-core (bundled by axe-selenium-python, run in the page) finds no serious or critical violation."""
    axe_selenium = pytest.importorskip("axe_selenium_python", reason="the dev lock has axe-selenium-python")
    browser.set_window_size(*size)
    browser.set_script_timeout(120)
    found = {}
    for page in ("/chat", "/instructor"):
        browser.get(api.url + page)
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        if page == "/chat":  # an answer with its sources, "Show the solution", the feedback form, a filter note
            source = {"n": 1, "source": "week02/control_flow.md", "text": NOTE, "snippet": NOTE[:240], "score": 0.8}
            final = {"answer": QUOTE, "route": "course", "grounded": True, "answer_id": "", "sources": [source],
                     "held_back": "Leaving a loop"}  # fmt: skip
            _show(browser, final, 1)
            refusal = {**final, "answer": "I couldn't find this.", "grounded": False, "held_back": ""}
            _show(browser, refusal, 2, "What is an infinite loop?", "week01")
        else:
            WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#top-sources tbody tr"))
        axe = axe_selenium.Axe(browser)
        axe.inject()
        results = axe.run()
        serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
        found[page] = axe.report(serious) if serious else ""
        name = f"axe-{page.strip('/')}-{size[0]}"
        screenshot(browser, name + ".png")
        (ARTIFACTS / (name + ".json")).write_text(json.dumps(results["violations"], indent=1))  # all, any impact
    assert not any(found.values()), "\n".join(f"{page}: {report}" for page, report in found.items() if report)


def test_each_page_weighs_at_most_60_kb_and_loads_nothing_from_elsewhere(api, browser):
    """Everything a page loads (its HTML, scripts, styles, icon, config) comes from this server: no CDN, and it
    works offline; 60 KB uncompressed at most per page."""
    for page in ("/chat", "/instructor"):
        browser.get(api.url + page)
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        time.sleep(1)  # the page's own calls (modules, summary) finish
        loaded = browser.execute_script(
            "return [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')]"
            ".map(e => [e.name, e.initiatorType, e.decodedBodySize])"
        )
        assets = [(url, size) for url, kind, size in loaded if kind not in ("fetch", "xmlhttprequest")]
        assert all(url.startswith(api.url + "/") for url, *_ in loaded), loaded
        weight = sum(size for _, size in assets)
        assert 0 < weight <= 60_000, (page, weight, assets)
