"""The instructor closes a gap: a question the course refuses, answered on /instructor's API, published, is
answered grounded, citing the instructor's answer, at once; retracted, it is refused again and nothing of it
is left in the store or the ingest records. A real API server with its own database (keys set, quotes)."""

from __future__ import annotations

import html
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness.browser import console_errors, type_into
from harness.servers import ApiServer, Deployment

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(300, connect=5)
STUDENT, INSTRUCTOR = "student-key-5e2b", "teacher-key-0c7d"
QUESTION = "What is the course's late-submission policy?"
ANSWER = (
    "The late-submission policy of this course: work handed in late loses 10 percent of its mark for each day "
    "it is late, and work more than three days late is not marked.\n\n"
    "Ask for an extension before the deadline if you are ill."
)


@pytest.fixture(scope="module")
def server(llm_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """An API server on its own database holding two small lessons, with a student's and an instructor's key."""
    root = tmp_path_factory.mktemp("answers")
    for module, name, text in [
        ("week01", "tuples.md", "# Tuples\n\nA tuple is an immutable sequence, written with parentheses: "
         "point = (3, 4). Tuples can be unpacked: x, y = point.\n"),
        ("week02", "loops.md", "# Loops\n\nA for loop runs its body once for each item of a sequence: "
         "for name in names: print(name). A while loop runs while its condition is true.\n"),
    ]:  # fmt: skip
        (root / "course" / module).mkdir(parents=True)
        (root / "course" / module / name).write_text(text)
    deployment = Deployment.create(root, llm_server.url, ANSWER_STYLE="extractive", LLM_TIMEOUT="60")
    api = ApiServer.on_free_port(deployment, root / "api.log")
    api.extra_env = {"MENTOR_API_KEY": STUDENT, "INSTRUCTOR_API_KEY": INSTRUCTOR}
    api.start()
    ingested = httpx.post(f"{api.url}/api/ingest", json={"directory": str(root / "course")},
                          headers={"X-API-Key": INSTRUCTOR}, timeout=TIMEOUT)  # fmt: skip
    assert ingested.status_code == 200 and ingested.json()["summary"]["added"] == 2, ingested.text
    yield api
    api.stop()


def ask(server: ApiServer, question: str = QUESTION) -> dict:
    response = httpx.post(f"{server.url}/api/chat", json={"message": question},
                          headers={"X-API-Key": STUDENT}, timeout=TIMEOUT)  # fmt: skip
    assert response.status_code == 200, response.text
    return dict(response.json())


def recorded(server: ApiServer, source: str) -> int:
    """The ingest records' entries for a file (SQLite beside the Milvus Lite file, which the server holds)."""
    db = sqlite3.connect(Path(server.deployment.root) / "db" / "ingest_records.sqlite")
    try:
        return int(db.execute("SELECT count(*) FROM ingested_files WHERE source = ?", (source,)).fetchone()[0])
    finally:
        db.close()


def in_store(client: httpx.Client, source: str) -> bool:
    """Whether the store holds a chunk of the file: the closest notes (every chunk of this tiny course ranks)."""
    closest = client.post("/api/closest", json={"question": QUESTION}, headers={"X-API-Key": STUDENT}).json()
    return any(s["source"] == source for s in closest["sources"])


def test_a_published_answer_is_cited_at_once_and_gone_when_retracted(server):
    teacher, student = {"X-API-Key": INSTRUCTOR}, {"X-API-Key": STUDENT}
    before = ask(server)
    assert not before["grounded"], before["answer"]

    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        body = {"question": QUESTION, "body": ANSWER, "module": ""}
        assert client.post("/api/instructor/answers", json=body, headers=student).status_code == 403
        assert client.get("/api/instructor/answers", headers=student).status_code == 403
        unknown = client.post("/api/instructor/answers", json={**body, "module": "week09"}, headers=teacher)
        assert unknown.status_code == 422 and "week09" in unknown.text
        created = client.post("/api/instructor/answers", json=body, headers=teacher)
        assert created.status_code == 201, created.text
        answer_id = created.json()["answer_id"]

        started = time.monotonic()
        published = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher)
        assert published.status_code == 200, published.text
        source = published.json()["source"]
        assert published.json()["ingest"]["added"] == 1 and source == f"instructor-answer-{answer_id}.md"
        after = ask(server)
        seconds = time.monotonic() - started
        print(f"published → grounded answer in {seconds:.2f} s")
        assert after["grounded"], after
        cited = [s for s in after["sources"] if s["source"] == source]
        assert cited and cited[0]["title"].startswith("Instructor answer, 20"), after["sources"]
        assert "10 percent" in after["answer"]
        assert seconds < 5, "the student gets the answer within 5 s of publishing"
        opened = client.get(f"/files/{source}", headers=student)
        assert opened.status_code == 200 and "late-submission" in opened.text

        again = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher).json()
        assert again["ingest"]["added"] == 0 and again["ingest"]["unchanged"] == 1, "publishing twice: no new chunk"
        assert recorded(server, source) == 1 and in_store(client, source)

        retracted = client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher)
        assert retracted.status_code == 200 and retracted.json()["ingest"]["deleted"] == 1, retracted.text
        assert recorded(server, source) == 0 and not in_store(client, source), "nothing of it left"
        assert client.get(f"/files/{source}", headers=student).status_code == 404
        listed = client.get("/api/instructor/answers", headers=teacher).json()["answers"]
        assert (answer_id, "retracted") in [(a["answer_id"], a["state"]) for a in listed]

    refused = ask(server)
    assert not refused["grounded"] and all(s["source"] != source for s in refused["sources"]), refused


# Measured on this course before it was written (scores: cosine of MiniLM, the answer's one chunk): "What happens
# if I hand in my work late?" 0.60 → grounded; the traps 0.49 and 0.50 → refused (the answer's terms cover
# "late-submission policy" but not "city library" or "Harvard"). "If I hand in my homework after the deadline,
# what happens?" scored 0.43 and was refused: "homework" and "deadline" are not how the answer says it.
PARAPHRASE = "What happens if I hand in my work late?"
TRAPS = ("What is the late-submission policy of the city library?", "Who wrote the late-submission policy of Harvard?")


def test_a_paraphrase_finds_the_published_answer_and_a_trap_near_it_is_refused(server):
    """The issue's target: once published, the answer is found by a question worded differently (grounded, citing
    the instructor's answer, quoting it), while a question that shares its words but asks about something the
    answer does not say is refused, and so is each again once the answer is retracted."""
    teacher = {"X-API-Key": INSTRUCTOR}
    assert not ask(server, PARAPHRASE)["grounded"], "refused before: the course has no such material"
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        body = {"question": QUESTION, "body": ANSWER, "module": ""}
        answer_id = client.post("/api/instructor/answers", json=body, headers=teacher).json()["answer_id"]
        published = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher)
        assert published.status_code == 200, published.text
        source = published.json()["source"]
        try:
            found = ask(server, PARAPHRASE)
            assert found["grounded"], found
            assert [s["source"] for s in found["sources"]] == [source], found["sources"]
            assert found["sources"][0]["title"].startswith("Instructor answer, 20")
            assert "10 percent" in found["answer"], found["answer"]
            for trap in TRAPS:
                refused = ask(server, trap)
                assert not refused["grounded"], (trap, refused["answer"], refused["sources"])
        finally:
            assert client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher).status_code == 200
    assert not ask(server, PARAPHRASE)["grounded"], "retracted: refused again"


def test_a_published_answer_links_a_course_file_that_a_keyless_tab_opens(server):
    """Deliverable 1: the answer names a file of the course (only one the course ingested: another is a 422); its
    published file ends "See also", and the answer's page, opened as a student's citation opens it, links that
    file with a signed link that opens it without the key."""
    teacher, student = {"X-API-Key": INSTRUCTOR}, {"X-API-Key": STUDENT}
    body = {"question": "Can a tuple be changed?", "body": "No: a tuple is immutable; build a new one.", "module": ""}
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        files = client.get("/api/instructor/files", headers=teacher).json()["files"]
        assert files == ["week01/tuples.md", "week02/loops.md"], files
        for outside in ("../api.log", str(Path(server.deployment.root) / "api.log"), "week01/nothing.md"):
            refused = client.post("/api/instructor/answers", json={**body, "file": outside}, headers=teacher)
            assert refused.status_code == 422 and "not a file of the course" in refused.text, refused.text
        created = client.post("/api/instructor/answers", json={**body, "file": "week01/tuples.md"}, headers=teacher)
        answer_id = created.json()["answer_id"]
        published = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher).json()
        try:
            page = client.get(f"/files/{published['source']}", headers=student)
            assert page.status_code == 200 and "See also:" in page.text, page.text
            link = re.search(r'href="(/files/week01/tuples\.md\?exp=\d+&amp;sig=[0-9a-f]+)"', page.text)
            assert link, page.text
            opened = httpx.get(server.url + html.unescape(link.group(1)), timeout=TIMEOUT)  # no key
            assert opened.status_code == 200 and "immutable sequence" in opened.text
        finally:
            assert client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher).status_code == 200


EXAM = "When is the final exam of the course?"
EXAM_ANSWER = "The final exam of the course is on 12 June at 9:00 in room B12. <script>window.pwned = 1</script>"


def test_the_instructor_answers_a_missing_question_on_the_page(server, browser):
    """The issue's target, in a real browser: a refused question answered on /instructor (the form offering the
    row's closest material as the file to link), published, is grounded for the student within 5 s; the answers
    list then shows that answer, its link, what cited it and the student's rating; retracted on the page, it is
    refused again. No script of the answer runs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert not ask(server, EXAM)["grounded"]
    browser.get(server.url + "/instructor")
    dialog = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "key-dialog"))
    WebDriverWait(browser, 30).until(lambda _: dialog.is_displayed())
    type_into(browser, browser.find_element(By.ID, "key-input"), INSTRUCTOR + "\n")

    def answer_button(driver):  # type: ignore[no-untyped-def]
        found = driver.find_elements(By.CSS_SELECTOR, f'#unanswered button[aria-label="Answer: {EXAM}"]')
        if not found:
            driver.find_element(By.ID, "refresh").click()  # the log is written off the request path
        return found[0] if found else False

    button = WebDriverWait(browser, 60, poll_frequency=1).until(answer_button)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", button)
    button.click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "answer-dialog").is_displayed())
    assert browser.find_element(By.ID, "answer-question").get_attribute("value") == EXAM
    summary = httpx.get(f"{server.url}/api/instructor/summary", headers={"X-API-Key": INSTRUCTOR}, timeout=TIMEOUT)
    closest = next(u for u in summary.json()["unanswered"] if u["question"] == EXAM)["closest"][0]["source"]
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "answer-file").get_attribute("value") == closest)
    type_into(browser, browser.find_element(By.ID, "answer-body"), EXAM_ANSWER)
    browser.find_element(By.ID, "answer-publish").click()
    WebDriverWait(browser, 60).until(lambda d: "Published" in d.find_element(By.ID, "answers-status").text)
    started = time.monotonic()
    answered = ask(server, EXAM)
    assert answered["grounded"] and time.monotonic() - started < 5, answered
    assert any(s["title"].startswith("Instructor answer, ") for s in answered["sources"]), answered["sources"]
    rated = httpx.post(f"{server.url}/api/feedback", json={"answer_id": answered["answer_id"], "rating": 1},
                       headers={"X-API-Key": STUDENT}, timeout=TIMEOUT)  # fmt: skip
    assert rated.status_code == 202, rated.text

    def used(driver):  # type: ignore[no-untyped-def]
        """The row of the answer, once it shows the student's answer citing it and their verdict (both written
        off the request path: the page is reloaded until they are)."""
        rows = driver.find_elements(By.XPATH, "//table[@id='answers']//tr[contains(., '12 June')]")
        if rows and "cited in 1 answer · 1 helpful / 0 not" in rows[0].text:
            return rows[0]
        driver.refresh()
        return False

    WebDriverWait(browser, 60, poll_frequency=1).until(used)
    answers = browser.find_element(By.ID, "answers")
    assert "12 June" in answers.text and "published" in answers.text
    assert f"See also: {closest}" in answers.text, "the row's closest material, linked as the form offered it"
    assert browser.execute_script("return window.pwned") is None, "the answer's script never runs"

    retract = answers.find_element(By.XPATH, ".//tr[contains(., '12 June')]//button[text()='Retract']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", retract)
    retract.click()
    WebDriverWait(browser, 60).until(lambda d: "Retracted" in d.find_element(By.ID, "answers-status").text)
    assert not ask(server, EXAM)["grounded"]
    assert browser.execute_script("return window.pwned") is None
    assert not console_errors(browser), console_errors(browser)


HOMEWORK = "Is there a penalty for handing in homework late?"


def test_the_student_who_asked_sees_answered_by_your_instructor_when_they_come_back(server, browser):
    """Deliverable 3 in a real browser: a question refused on /chat, answered and published by the instructor
    (reworded, written from the missing-material row), shows "answered by your instructor" in the student's
    conversation list and on the refused turn when the page is opened again, linking the answer's file; retracted,
    the mark is gone. (Another student's conversations never show it: tests/unit/test_instructor_answers.py.)"""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    teacher = {"X-API-Key": INSTRUCTOR}
    browser.get(server.url + "/chat")
    dialog = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "key-dialog"))
    WebDriverWait(browser, 30).until(lambda _: dialog.is_displayed())
    type_into(browser, browser.find_element(By.ID, "key-input"), STUDENT + "\n")
    box = browser.find_element(By.ID, "question")
    type_into(browser, box, HOMEWORK)
    box.send_keys("\n")

    def answered_turn(driver):  # type: ignore[no-untyped-def]
        found = driver.find_elements(By.CSS_SELECTOR, "article.answer")
        return found and found[0].get_attribute("data-state") == "done" and found[0]

    turn = WebDriverWait(browser, 120, poll_frequency=0.5).until(answered_turn)
    assert turn.get_attribute("data-grounded") == "false", turn.text
    assert not browser.find_elements(By.CSS_SELECTOR, "a.answered")

    def checked(driver) -> bool:  # type: ignore[no-untyped-def]
        """The page's one question on opening has been answered (fetch entries appear once complete)."""
        return bool(driver.execute_script(
            "return performance.getEntriesByType('resource').some(e => e.name.endsWith('/conversations/answered'))"
        ))  # fmt: skip

    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        for _ in range(60):  # the log is written off the request path: the row is listed once it is
            summary = client.get("/api/instructor/summary", headers=teacher).json()
            if any(u["question"] == HOMEWORK for u in summary["unanswered"]):
                break
            time.sleep(0.5)
        body = {"question": "Late homework: the penalty", "body": "Late homework loses 5 percent a day.",
                "module": "", "asked": HOMEWORK}  # fmt: skip
        answer_id = client.post("/api/instructor/answers", json=body, headers=teacher).json()["answer_id"]
        published = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher)
        assert published.status_code == 200, published.text

        browser.refresh()  # the student comes back: no push, the page asks when it opens
        WebDriverWait(browser, 30).until(checked)
        time.sleep(0.5)  # the reply rendered
        listed = browser.find_element(By.CSS_SELECTOR, "#conversations a.answered")
        assert listed.text == "✓ answered by your instructor"
        assert "Instructor answer, 20" in (listed.get_attribute("title") or "")
        mark = browser.find_element(By.CSS_SELECTOR, "#messages article.question a.answered")
        href = mark.get_attribute("href") or ""
        assert f"/files/{published.json()['source']}?exp=" in href and href == listed.get_attribute("href")
        opened = httpx.get(href, timeout=TIMEOUT)  # a new tab sends no key: the signed link opens the answer
        assert opened.status_code == 200 and "5 percent" in opened.text

        assert client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher).status_code == 200
        browser.refresh()
        WebDriverWait(browser, 30).until(checked)
        time.sleep(0.5)  # the reply rendered
        assert not browser.find_elements(By.CSS_SELECTOR, "a.answered"), "retracted: the mark is gone"
    assert not console_errors(browser), console_errors(browser)


LAB, LAB_AGAIN = "Where is the computer lab?", "where are the computer labs"
HOSTILE = "Is the lab open on <img src=x onerror=window.pwned=3> Fridays?"


def test_the_instructor_marks_a_row_resolved_and_it_leaves_the_list(server, browser):
    """Deliverable 5 in a real browser: two wordings of one refused question are one row ("2×", the other
    wording listed) with its "not in the materials" label; Mark resolved takes it off the list into "Resolved",
    Reopen brings it back. A student's markup in a question is shown as text and never runs."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    for question in (LAB, LAB_AGAIN, HOSTILE):
        assert not ask(server, question)["grounded"]
    browser.get(server.url + "/instructor")
    dialog = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "key-dialog"))
    WebDriverWait(browser, 30).until(lambda _: dialog.is_displayed())
    type_into(browser, browser.find_element(By.ID, "key-input"), INSTRUCTOR + "\n")
    open_rows = "//table[@id='unanswered']/tbody/tr"

    def lab_row(driver):  # type: ignore[no-untyped-def]
        """The lab's row once both wordings are in it (the log is written off the request path)."""
        rows = driver.find_elements(By.XPATH, f"{open_rows}[contains(., 'computer lab')]")
        if rows and "2×" in rows[0].text:
            return rows[0]
        driver.find_element(By.ID, "refresh").click()
        return False

    row = WebDriverWait(browser, 60, poll_frequency=1).until(lab_row)
    assert LAB_AGAIN in row.text and f"also asked as: {LAB} (1×)" in row.text, row.text
    summary = httpx.get(f"{server.url}/api/instructor/summary", headers={"X-API-Key": INSTRUCTOR}, timeout=TIMEOUT)
    lab = next(u for u in summary.json()["unanswered"] if u["question"] == LAB_AGAIN)
    assert lab["gap"] in ("not in the materials", "the materials may have it: retrieval missed"), lab
    assert lab["gap"] in row.text, "the label the closest material's score gives"
    hostile = browser.find_element(By.XPATH, f"{open_rows}[contains(., 'Fridays')]")
    assert "<img src=x onerror=window.pwned=3>" in hostile.text, "a student's markup is shown as text"
    assert "Open rows per module:" in browser.find_element(By.ID, "missing-modules").text

    resolve = row.find_element(By.XPATH, ".//button[text()='Mark resolved']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", resolve)
    resolve.click()
    WebDriverWait(browser, 30).until(lambda d: "Marked resolved" in d.find_element(By.ID, "missing-status").text)
    WebDriverWait(browser, 30).until(
        lambda d: not d.find_elements(By.XPATH, f"{open_rows}[contains(., 'computer lab')]")
    )
    assert browser.find_elements(By.XPATH, f"{open_rows}[contains(., 'Fridays')]"), "only that row left"
    assert browser.find_element(By.ID, "resolved-count").text == "1"
    summary = browser.find_element(By.CSS_SELECTOR, "#resolved-rows summary")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", summary)
    summary.click()
    reopen = browser.find_element(By.XPATH, "//table[@id='resolved']//tr[contains(., 'computer lab')]//button")
    assert reopen.text == "Reopen"
    reopen.click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.XPATH, f"{open_rows}[contains(., 'computer lab')]"))
    assert browser.find_element(By.ID, "resolved-count").text == "0"
    assert browser.execute_script("return window.pwned") is None, "no student's markup runs"
    assert not console_errors(browser), console_errors(browser)
