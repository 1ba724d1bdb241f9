"""Hints before solutions (issue 29.3, HINTS_FIRST) for real: a chemistry lesson and a maths handout, each with an
exercise and its worked solution, ingested by the loader CLI into Milvus Lite and asked through the API under
uvicorn (the llama.cpp server behind it), and on the student page in a real browser.

A question the exercise matches gets the exercise back (its task and hint, cited) and `held_back` naming it, never
the solution's text; asking for the solution (as the page's "Show the solution" does, or as a bare follow-up)
quotes the solution, cited; with HINTS_FIRST=false the solution comes at once. Each check reads the solution's own
words ("CH4 + 2 O2 → CO2 + 2 H2O", "5/6"), so a solution leaked or withheld fails it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.factories import get_store
from core.settings import Settings
from graph.prompts import EXERCISE_INTRO, EXTRACTIVE_INTRO, SOLUTION_INTRO
from harness.servers import ApiServer, Deployment, LLMServer
from loaders import ingest, parsers
from loaders.ingest import ingest_directory

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(180, connect=5)

EQUATIONS = """# Balancing chemical equations

A chemical equation is balanced when each element has the same number of atoms on both sides of the arrow.
Coefficients in front of formulas change the number of molecules; the subscripts inside a formula never change.

## Exercise: Burning methane

Methane (CH4) burns in oxygen to give carbon dioxide and water.
Balance the equation for the combustion of methane: CH4 + O2 → CO2 + H2O.

## Hint

Balance carbon first, then hydrogen, and oxygen last.

## Solution

To balance the combustion of methane, start with carbon: there is one atom on each side.
The four hydrogen atoms of CH4 need 2 H2O on the right.
That makes four oxygen atoms on the right, so the left needs 2 O2.
The balanced equation is CH4 + 2 O2 → CO2 + 2 H2O.

## Moles

A mole is 6.022 × 10^23 particles. The molar mass of a substance is the mass of one mole of it, in grams.
"""
FRACTIONS = """# Adding fractions

To add two fractions, write them over a common denominator first.
The least common multiple of the denominators is the smallest common denominator.

## Exercise 2

Add the fractions 1/2 and 1/3, and write the sum in lowest terms.

## Answer

The least common multiple of 2 and 3 is 6, so 1/2 = 3/6 and 1/3 = 2/6.
Adding the numerators gives the sum 5/6, which is already in lowest terms.
"""
METHANE = "How do I balance the equation for the combustion of methane?"
METHANE_EXERCISE = "Exercise: Burning methane"
METHANE_SOLUTION = "CH4 + 2 O2 → CO2 + 2 H2O"
FRACTIONS_QUESTION = "How do I add the fractions 1/2 and 1/3 and write the sum in lowest terms?"
FRACTIONS_SOLUTION = "5/6"


def show_the_solution(exercise: str) -> str:
    """What the page's "Show the solution" button sends (server/static/chat.js, renderSolutionAsk)."""
    return f"Show me the solution to “{exercise}”"


def write_course(course: Path) -> Path:
    """week03: a chemistry lesson (exercise, hint, solution); week04: a maths handout ("Exercise 2", "Answer")."""
    (course / "week03").mkdir(parents=True)
    (course / "week03" / "equations.md").write_text(EQUATIONS)
    (course / "week04").mkdir()
    (course / "week04" / "fractions.md").write_text(FRACTIONS)
    return course


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_course(tmp_path_factory.mktemp("hints") / "course")


@pytest.fixture(scope="module")
def server(course: Path, llm_server: LLMServer) -> Iterator[ApiServer]:
    """The API with the packaged answer style (quotes) and HINTS_FIRST at its default, the course ingested by the
    loader CLI first."""
    deployment = Deployment.create(
        course.parent,
        llm_server.url,
        ANSWER_STYLE="extractive",
        LLM_TIMEOUT="60",
        INGEST_ROOTS=json.dumps([str(course)]),
    )
    deployment.env.pop("HINTS_FIRST", None)  # the default: on
    result = deployment.run_cli("--directory", str(course), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["summary"]["added"] == 2
    api = ApiServer.on_free_port(deployment, course.parent / "api.log")
    api.start()
    yield api
    api.stop()


def chat(api: ApiServer, message: str, conversation_id: str | None = None) -> dict[str, Any]:
    body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
    response = httpx.post(f"{api.url}/api/chat", json=body, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return dict(response.json())


def shown(answer: dict[str, Any]) -> str:
    """Everything the student can read of an answer: its text and its sources' text."""
    return answer["answer"] + "\n" + "\n".join(s.get("text", "") + s.get("snippet", "") for s in answer["sources"])


def test_an_exercise_comes_back_first_and_its_solution_when_asked_for(server):
    first = chat(server, METHANE)
    assert first["held_back"] == METHANE_EXERCISE, first
    assert first["grounded"] and first["answer"].startswith(EXERCISE_INTRO), first["answer"]
    assert "Balance the equation for the combustion of methane: CH4 + O2 → CO2 + H2O [1]" in first["answer"]
    assert "Balance carbon first, then hydrogen, and oxygen last" in first["answer"]  # the exercise's own hint
    assert METHANE_SOLUTION not in shown(first) and "2 O2" not in shown(first)
    assert {s["source"] for s in first["sources"]} == {"week03/equations.md"}
    assert not any(s["headings"].endswith("Solution") for s in first["sources"])

    asked = chat(server, show_the_solution(first["held_back"]), first["conversation_id"])
    assert asked["turns"] == 2 and asked["held_back"] == "" and asked["grounded"]
    assert asked["answer"].startswith(SOLUTION_INTRO), asked["answer"]
    assert f"The balanced equation is {METHANE_SOLUTION} [1]" in asked["answer"]
    assert asked["sources"][0]["source"] == "week03/equations.md"
    assert asked["sources"][0]["headings"].endswith("Solution")
    assert "Balance carbon first" not in asked["answer"]  # the solution, not the exercise again


def test_a_bare_follow_up_asking_for_the_solution_is_read_with_the_exercise_before_it(server):
    first = chat(server, METHANE)
    assert first["held_back"] == METHANE_EXERCISE and METHANE_SOLUTION not in shown(first)
    asked = chat(server, "Show me the solution", first["conversation_id"])
    assert asked["answer"].startswith(SOLUTION_INTRO) and METHANE_SOLUTION in asked["answer"], asked["answer"]


def test_a_maths_handout_s_answer_is_held_back_and_given_by_its_bare_title(server):
    """ "Exercise 2" / "Answer": the title names no topic (the search finds the chemistry exercise as readily), so
    the request is answered from the exercise this conversation held back."""
    first = chat(server, FRACTIONS_QUESTION)
    assert first["held_back"] == "Exercise 2" and first["answer"].startswith(EXERCISE_INTRO), first
    assert "Add the fractions 1/2 and 1/3" in first["answer"] and FRACTIONS_SOLUTION not in shown(first)
    asked = chat(server, show_the_solution("Exercise 2"), first["conversation_id"])
    assert asked["answer"].startswith(SOLUTION_INTRO) and FRACTIONS_SOLUTION in asked["answer"], asked["answer"]
    assert {s["source"] for s in asked["sources"]} == {"week04/fractions.md"}


def test_a_question_no_exercise_matches_is_answered_as_before(server, llm_server):
    """Quoted as ever, and in the generative style the model drafts as ever; the exercise given back in the
    generative style is still quoted, and the model is never asked (a draft from it would solve it)."""
    mole = chat(server, "What is a mole?")
    assert mole["held_back"] == "" and mole["answer"].startswith(EXTRACTIVE_INTRO) and "6.022" in mole["answer"]

    def invoke(question: str) -> dict[str, Any]:
        body = {"input": {"question": question}, "config": {"configurable": {"answer_style": "generative"}}}
        response = httpx.post(f"{server.url}/mentor/invoke", json=body, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return dict(response.json()["output"])

    before = llm_server.completions()
    held = invoke(METHANE)
    assert held["held_back"] == METHANE_EXERCISE and held["answer"].startswith(EXERCISE_INTRO)
    assert METHANE_SOLUTION not in shown(held) and llm_server.completions() == before
    drafted = invoke("What is the molar mass of a substance?")
    assert drafted["held_back"] == "" and llm_server.completions() > before


def test_the_page_s_show_the_solution_button_gets_it_with_the_keyboard_at_phone_width(server, browser):
    """The student page, as a person on a phone: the exercise comes back with a "Show the solution" button under
    it; reached with the keyboard and pressed with Enter, it asks in the same conversation and the solution is
    shown, cited, with its source."""
    pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the dev lock has it: ./startup.sh)")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from harness.browser import ANSWER_WAIT, console_errors, screenshot, type_into

    def answer(count: int) -> Any:
        def done(driver: Any) -> Any:
            nodes = driver.find_elements(By.CSS_SELECTOR, "article.answer")
            ok = len(nodes) >= count and nodes[count - 1].get_attribute("data-state") in ("done", "error")
            return nodes[count - 1] if ok else False

        node = WebDriverWait(browser, ANSWER_WAIT, poll_frequency=0.5).until(done)
        assert node.get_attribute("data-state") == "done", node.text
        return node

    browser.set_window_size(390, 844)
    browser.get(server.url + "/chat")
    box = WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "question"))
    type_into(browser, box, METHANE)
    box.send_keys("\n")
    first = answer(1)
    text = first.find_element(By.CSS_SELECTOR, ".answer-body").text
    assert "try it yourself first" in text and "Balance carbon first" in text and METHANE_SOLUTION not in text
    button = first.find_element(By.CSS_SELECTOR, ".show-solution")
    assert button.is_displayed() and button.text == "Show the solution"
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(browser, "hints-first-exercise-phone.png")

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].focus()", button)
    focused = browser.switch_to.active_element
    assert focused == button  # a focusable control, reached as a keyboard user reaches it
    focused.send_keys(Keys.ENTER)
    second = answer(2)
    questions = [q.text for q in browser.find_elements(By.CSS_SELECTOR, "article.question")]
    assert questions == [METHANE, show_the_solution(METHANE_EXERCISE)]
    solution = second.find_element(By.CSS_SELECTOR, ".answer-body").text
    assert METHANE_SOLUTION in solution and "Here is the solution" in solution, solution
    assert second.find_elements(By.CSS_SELECTOR, "a.cite")  # cited, and its source listed
    assert "week03/equations.md" in second.find_element(By.CSS_SELECTOR, ".sources").text
    assert not second.find_elements(By.CSS_SELECTOR, ".show-solution")  # nothing held back any more
    screenshot(browser, "hints-first-solution-phone.png")
    assert not console_errors(browser), console_errors(browser)


def test_with_hints_first_off_the_solution_comes_at_once(server):
    server.stop()
    server.extra_env = {"HINTS_FIRST": "false"}
    try:
        server.start()
        answer = chat(server, METHANE)
        assert answer["held_back"] == "" and not answer["answer"].startswith(EXERCISE_INTRO)
        assert METHANE_SOLUTION in answer["answer"], answer["answer"]
    finally:
        server.stop()
        server.extra_env = None
        server.start()


def test_a_pipeline_5_index_is_re_ingested_once_with_its_exercises_marked(course, tmp_path, monkeypatch):
    """PIPELINE_VERSION 6 marks exercises: an index written before (version 5, no marks) is rewritten file by file
    on the next run, with as many chunks as a fresh index and no copies, and is then unchanged."""
    settings = Settings(_env_file=None, milvus_uri=str(tmp_path / "db" / "mentor.db"))  # type: ignore[call-arg]
    store = get_store(settings)
    with monkeypatch.context() as old:
        old.setattr(ingest, "PIPELINE_VERSION", "5")
        old.setattr(parsers, "mark_exercises", lambda sections: None)
        before = ingest_directory(course, settings=settings, store=store)
    assert {f.status for f in before.files} == {"added"}
    rows = store.client.query(
        store.collection, filter='source == "week03/equations.md"', output_fields=["file_id"], limit=100
    )
    file_id = rows[0]["file_id"]
    assert store.exercise(file_id, METHANE_EXERCISE) == []

    after = ingest_directory(course, settings=settings, store=store)
    assert {f.status for f in after.files} == {"updated"}
    assert store.count() == sum(f.chunks for f in after.files) == sum(f.chunks for f in before.files)
    exercise = store.exercise(file_id, METHANE_EXERCISE)
    solution = store.exercise(file_id, METHANE_EXERCISE, solution=True)
    assert exercise and solution and all(h.metadata["solution"] is False for h in exercise)
    assert "Balance carbon first" in " ".join(h.text for h in exercise)
    assert METHANE_SOLUTION not in " ".join(h.text for h in exercise)
    assert METHANE_SOLUTION in " ".join(h.text for h in solution)
    assert {f.status for f in ingest_directory(course, settings=settings, store=store).files} == {"unchanged"}
