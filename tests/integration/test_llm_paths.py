"""Every place the tutor calls the model, through the real API, the real llama.cpp server and the locked client.

Why: on 2026-12-06 a fresh install resolved openai 3.63 (transport moved to httpx2), and the client rejected the
httpx.Timeout the factory gave it: every LLM call was a 500, while quote answers (no LLM call) kept working. Each
test here asserts the request succeeded *and* that the model server served a completion for it, so a transport
break is a red test at the first call site it touches, not a user's report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.messages import HumanMessage

from core import factories
from core.settings import Settings

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(180, connect=5)


def served(llm_server, call: Callable[[], Any]) -> tuple[Any, int]:
    """Run `call`; return its result and how many completions the model server served meanwhile."""
    before = llm_server.completions()
    result = call()
    return result, llm_server.completions() - before


def invoke(api, question: str, **configurable: Any) -> httpx.Response:
    body = {"input": {"question": question}, "config": {"configurable": configurable}}
    return httpx.post(f"{api.url}/mentor/invoke", json=body, timeout=TIMEOUT)


def test_the_factory_client_completes_against_the_server(llm_server):
    """The seam itself: the ChatOpenAI client built by core.factories, with its timeouts, talks to llama.cpp."""
    settings = Settings(_env_file=None, llm_base_url=llm_server.url)  # type: ignore[call-arg]
    reply, calls = served(llm_server, lambda: factories.get_llm(settings).invoke([HumanMessage("Say hello.")]))
    assert str(reply.content).strip() and calls == 1


def test_small_talk_is_answered_by_the_model(api, llm_server):
    response, calls = served(
        llm_server, lambda: httpx.post(f"{api.url}/api/chat", json={"message": "Hello!"}, timeout=TIMEOUT)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["route"] == "chat" and body["response"].strip() and calls == 1


def test_a_follow_up_is_condensed_by_the_model(api, llm_server):
    first = httpx.post(f"{api.url}/api/chat", json={"message": "What is a generator expression?"}, timeout=TIMEOUT)
    assert first.status_code == 200, first.text
    follow_up = {"message": "Can you show me an example of it?", "conversation_id": first.json()["conversation_id"]}
    response, calls = served(llm_server, lambda: httpx.post(f"{api.url}/api/chat", json=follow_up, timeout=TIMEOUT))
    assert response.status_code == 200, response.text
    assert calls >= 1  # the condensing call (and the answer's own, generative in this deployment)


def test_a_generative_answer_is_written_by_the_model(api, llm_server):
    response, calls = served(
        llm_server, lambda: invoke(api, "What is a list comprehension?", answer_style="generative", max_rewrites=0)
    )
    assert response.status_code == 200, response.text
    output = response.json()["output"]
    assert output["answer"].strip() and output["verified"] and calls == 1


def test_the_optional_grader_asks_the_model(api, llm_server):
    # grade_accept_score above any cosine: every accepted note goes to the model's veto (two short notes: one
    # prompt the 135M model reads in seconds even on a busy machine)
    response, calls = served(
        llm_server,
        lambda: invoke(
            api,
            "What is a list comprehension?",
            llm_grader=True,
            grade_accept_score=1.01,
            max_rewrites=0,
            k=2,
            grade_note_chars=300,
            answer_style="extractive",
        ),
    )
    assert response.status_code == 200, response.text
    assert calls == 1  # the veto call (no rewrite if it vetoes all); extractive answers make none of their own


def test_a_query_rewrite_asks_the_model(api, llm_server):
    # A relevance floor no excerpt reaches: nothing comes back, no term is unknown, so the graph asks for other
    # search words once before it refuses.
    response, calls = served(
        llm_server,
        lambda: invoke(
            api, "What is a list comprehension?", relevance_floor=0.999, max_rewrites=1, answer_style="extractive"
        ),
    )
    assert response.status_code == 200, response.text
    output = response.json()["output"]
    assert output["rewrites"] == 1 and not output["grounded"] and calls == 1
