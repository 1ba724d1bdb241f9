"""The grader's grammar-constrained call against the real llama.cpp server and the packaged model.

Why: llama-cpp-python's server rejects the `json_schema` response format, and plain JSON mode can run on
to the token limit; `json_object` with a schema is what works. Only the real server proves that the reply
parses. (Whether SmolLM2-135M judges well is measured by bench/answer.py, not asserted: it is near chance.)
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableLambda

from core.settings import PROJECT_ROOT, get_settings
from graph.graph import llm_veto
from graph.state import Candidate
from loaders.parsers import parse_file

pytestmark = pytest.mark.integration


class CountCalls(BaseCallbackHandler):
    def __init__(self) -> None:
        self.calls = 0

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.calls += 1


def course_passage(relative: str, containing: str) -> Candidate:
    sections = parse_file(PROJECT_ROOT / "course_materials" / relative).sections
    text = next(s.text for s in sections if containing in s.text)
    return Candidate(id=relative, text=text[:600], metadata={"source": relative}, score=0.4)


@pytest.mark.parametrize("note_chars", [0, 200])
def test_one_grammar_constrained_call_judges_every_note_it_may_veto(llm_server, monkeypatch, note_chars):
    monkeypatch.setenv("LLM_BASE_URL", llm_server.url)
    get_settings.cache_clear()
    candidates = [
        course_passage("week03/lists_and_comprehensions.md", "comprehension"),
        course_passage("week05/files_and_with.txt", "with"),
        course_passage("week02/control_flow.md", "range"),
    ]
    counter = CountCalls()
    config = {"configurable": {"grade_accept_score": 1.0, "grade_note_chars": note_chars, "temperature": 0.0},
              "callbacks": [counter]}  # fmt: skip
    try:
        # As a runnable, like inside the graph: the node's LLM call inherits the config's callbacks.
        state = {"question": "What is a list comprehension?", "candidates": candidates}
        update = RunnableLambda(lambda s, config: llm_veto(s, config, [1, 2, 3])).invoke(state, config)
    finally:
        get_settings.cache_clear()
    assert counter.calls == 1  # one call for all three notes, not one per note
    assert "grade_error" not in update, update["grade_error"]  # the reply parsed: a yes/no for every note
    assert set(update["relevant"]) <= {1, 2, 3}
