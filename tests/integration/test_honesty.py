"""Grounded means supported, with the real model, on folders bigger than the sample course and on another subject.

The CI subset of bench/honesty_questions.json runs over course_materials/ plus the shared fixtures (1,400+ chunks,
where "capital", "stock" and "python" all occur); the biology course checks that nothing assumes Python. The full
set, before and after, is bench/honesty.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.sources import cited
from harness.servers import ApiServer, Deployment, LLMServer, base_env, free_port
from tests.conftest import COURSE, PROJECT_ROOT, shared_fixtures

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(180, connect=5)
BIOLOGY = PROJECT_ROOT / "tests" / "fixtures" / "biology_course"


def start_api(llm: LLMServer, root: Path, folders: list[Path], **settings: str) -> ApiServer:
    env = base_env(
        MILVUS_URI=str(root / "db" / "mentor.db"),
        CHECKPOINT_DB=str(root / "conversations.sqlite"),
        LLM_BASE_URL=llm.url,
        LLM_TIMEOUT="60",
        **settings,
    )
    deployment = Deployment(root, env)
    for folder in folders:
        result = deployment.run_cli("--directory", str(folder), "--json")
        assert result.returncode == 0, result.stderr[-3000:]
    port = free_port()
    server = ApiServer(f"http://127.0.0.1:{port}", deployment, port, root / "api.log")
    server.start()
    return server


def ask(api: ApiServer, question: str) -> dict:
    response = httpx.post(f"{api.url}/api/chat", json={"message": question}, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return response.json()


def cited_files(body: dict) -> set[str]:
    numbers = set(cited(body["response"]))
    return {s["source"] for s in body["sources"] if s["n"] in numbers}


def ci_questions(path: Path) -> list[dict]:
    return [q for q in json.loads(path.read_text())["questions"] if q.get("ci")]


def assert_honest(api: ApiServer, questions: list[dict]) -> None:
    """Off-course and trap questions are refused; in-course ones answered grounded, citing a gold file; no
    sentence the check rejected reaches the student."""
    wrongly_grounded, answered, misses = [], 0, []
    course = [q for q in questions if q["kind"] == "in_course"]
    for q in questions:
        body = ask(api, q["question"])
        for sentence in body["support"]:
            if not sentence["supported"] and len(sentence["text"]) > 20:
                assert sentence["text"] not in body["response"], (q["question"], sentence)
        if q["kind"] != "in_course":
            if body["grounded"]:
                wrongly_grounded.append((q["question"], body["response"][:200]))
            continue
        if body["grounded"] and cited_files(body) & set(q["gold_sources"]):
            answered += 1
            assert body["verified"]["style"] in ("generative", "extractive")
        else:
            misses.append((q["question"], body["grounded"], sorted(cited_files(body)), body["response"][:200]))
    others = len(questions) - len(course)
    # Targets of issue 11: ≤ 5 % of trap/off-course questions grounded, ≥ 90 % of in-course grounded with a gold
    # file cited. On a CI subset that small, one question of slack each way.
    assert len(wrongly_grounded) <= max(1, others // 20), wrongly_grounded
    assert answered >= len(course) - 1, misses


@pytest.fixture(scope="module")
def mixed_api(llm_server: LLMServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    fixtures = shared_fixtures()
    server = start_api(llm_server, tmp_path_factory.mktemp("honesty"), [COURSE, fixtures])
    yield server
    server.stop()


def test_ci_subset_on_the_course_plus_shared_fixtures(mixed_api):
    questions = ci_questions(PROJECT_ROOT / "bench" / "honesty_questions.json")
    assert {q["kind"] for q in questions} == {"in_course", "off_course", "trap"} and len(questions) >= 20
    assert_honest(mixed_api, questions)


def test_the_named_traps_are_refused(mixed_api):
    for question in ("What is the capital of France?", "What is the best stock to buy this year?"):
        body = ask(mixed_api, question)
        assert not body["grounded"], body["response"]
        assert "Paris" not in body["response"] and "apples" not in body["response"].split("\n\n")[0]


def test_streamed_text_is_the_checked_answer(mixed_api):
    tokens, final, event = [], None, None
    body = {"message": "What does enumerate() give you in a for loop?"}
    with httpx.stream("POST", f"{mixed_api.url}/api/chat/stream", json=body, timeout=TIMEOUT) as stream:
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "token":
                tokens.append(json.loads(line[6:]))
            elif line.startswith("data: ") and event == "final":
                final = json.loads(line[6:])
    assert final and final["grounded"], final
    assert "".join(tokens) == final["answer"], "the student sees exactly the checked answer, as it is written"


def test_a_biology_course_gets_a_biology_tutor(llm_server, tmp_path_factory):
    api = start_api(
        llm_server,
        tmp_path_factory.mktemp("biology"),
        [BIOLOGY],
        COURSE_NAME="Introduction to Biology",
        COURSE_DESCRIPTION="cells, photosynthesis, genetics and evolution",
    )
    try:
        assert_honest(api, ci_questions(BIOLOGY / "questions.json"))
    finally:
        api.stop()


FOLLOW_UPS = [  # bench/key_facts.json's fu-002, fu-009, fu-015, fu-001, fu-013: the second turn needs the first
    ("How does break work in a loop?", "And what does continue do instead?", "skip"),
    ("What is a local variable?", "And a global one?", "outside"),
    ("What does zip() do?", "What happens if I give it lists of different lengths?", "shortest"),
    # quoted for what it adds ("set"), not for the tuples and lists it was read with
    ("What is the difference between a tuple and a list?", "And how is that different from a set?", "unordered"),
    ("What is an assertion?", "What kinds of them are there?", "precondition"),  # "kinds": scaffolding
]


def test_follow_ups_are_answered_from_the_conversation_without_the_model(mixed_api):
    """A follow-up is searched with the earlier question's terms (built in code in the extractive style: no LLM
    call, so no 135M rewrite such as `The course materials say:` replaces the question); the answer states what
    was asked."""
    config = {"configurable": {"answer_style": "extractive", "max_rewrites": 0}}

    def invoke(question: str, conversation_id: str | None = None) -> dict:
        body = {"input": {"question": question, "conversation_id": conversation_id}, "config": config}
        response = httpx.post(f"{mixed_api.url}/mentor/invoke", json=body, timeout=TIMEOUT)
        assert response.status_code == 200, response.text
        return response.json()["output"]

    for first, second, fact in FOLLOW_UPS:
        out = invoke(second, invoke(first)["conversation_id"])
        assert out["grounded"] and fact in out["answer"].lower(), (second, out["query"], out["answer"][:300])
