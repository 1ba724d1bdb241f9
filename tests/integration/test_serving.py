"""Serving it right: API key on every route, LLM outage and recovery, empty database, load, LangServe extras.

Uses the shared `llm_server`/`api` fixtures, plus one extra API server (API key set) on its own database, so
the shared deployment's Milvus Lite file (one process per database) is never opened twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from langserve import RemoteRunnable

from harness.servers import ApiServer
from server.chat import INGEST_HINT
from tests.integration.conftest import keyed_server

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(300, connect=5)
KEY = "test-key-3f9a"
ADMIN_KEY = "admin-key-77c2"
TRACE_MARKERS = ("Traceback", 'File "/', "site-packages", '.py", line')


def _no_trace(text: str) -> None:
    assert not any(marker in text for marker in TRACE_MARKERS), text[:2000]


def _sse(response: httpx.Response) -> list[tuple[str, str]]:
    """(event, data) pairs of a server-sent event stream."""
    events, event = [], "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            events.append((event, line[5:].strip()))
    return events


# ---- a second API server: API key set, its own (at first empty) database -------------------------
@pytest.fixture(scope="module")
def keyed_api(llm_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """A second API server: API key set, its own (at first empty) database."""
    server = keyed_server(llm_server, tmp_path_factory.mktemp("keyed"), KEY, admin_key=ADMIN_KEY)
    yield server
    server.stop()


def test_empty_database_answers_503_telling_to_ingest(keyed_api):
    """Runs first on the keyed server while its database is still empty."""
    headers = {"X-API-Key": KEY}
    response = httpx.post(f"{keyed_api.url}/api/chat", json={"message": "What is a tuple?"}, headers=headers)
    assert response.status_code == 503, response.text
    assert response.json()["detail"] == INGEST_HINT
    health = httpx.get(f"{keyed_api.url}/health", headers=headers).json()
    assert health["database"]["ok"] and health["database"]["chunks"] == 0


def _routes(url: str, folder: str) -> list[tuple[str, str, dict | None]]:
    chat = {"message": "hello!"}
    chat_input = {"input": {"messages": [{"type": "human", "content": "hello!"}]}}
    return [
        ("GET", "/", None),
        ("GET", "/health", None),
        ("GET", "/docs", None),
        ("GET", "/openapi.json", None),
        ("GET", "/api/chat/stats", None),
        ("POST", "/api/ingest", {"directory": folder}),
        ("POST", "/api/chat", chat),
        ("POST", "/api/chat/stream", chat),
        ("GET", "/api/modules", None),
        ("POST", "/api/render", {"answer": "Lists hold items [1].", "sources": [{"n": 1, "source": "x.md"}]}),
        ("POST", "/api/closest", {"question": "What is a list?"}),
        ("POST", "/mentor/invoke", {"input": {"question": "hello!"}}),
        ("POST", "/mentor/stream", {"input": {"question": "thanks!"}}),
        ("GET", "/mentor/input_schema", None),
        ("GET", "/mentor/playground/", None),
        ("POST", "/mentor/chat/invoke", chat_input),
        ("POST", "/mentor/chat/stream", chat_input),
        ("GET", "/mentor/chat/playground/", None),
    ]


def test_every_route_needs_the_api_key(keyed_api):
    folder = str(keyed_api.deployment.root / "course")
    routes = _routes(keyed_api.url, folder)
    with httpx.Client(base_url=keyed_api.url, timeout=TIMEOUT) as client:
        for method, path, body in routes:
            for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": f"Bearer {KEY}x"}, {"Authorization": KEY}):
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path, headers, response.status_code)
                assert response.json()["detail"].startswith("Missing or invalid API key")
                assert KEY not in response.text
        # the same routes with the key, both ways; /api/ingest comes first so the database has material, and it
        # needs the operator's key: a student's gets 403 (tests/unit/test_security.py checks every route)
        refused = client.post("/api/ingest", json={"directory": folder, "reset": True}, headers={"X-API-Key": KEY})
        assert refused.status_code == 403 and "ADMIN_API_KEY" in refused.json()["detail"], refused.text
        for n, (method, path, body) in enumerate(routes):
            key = ADMIN_KEY if path == "/api/ingest" else KEY
            headers = {"Authorization": f"Bearer {key}"} if n % 2 else {"X-API-Key": key}
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 200, (method, path, response.status_code, response.text[:500])
            if path == "/api/ingest":
                assert response.json()["summary"]["added"] == 1
            if path.endswith("/stream"):
                events = [e for e, _ in _sse(response)]
                assert "error" not in events and events, (path, events)
        for headers in ({"X-API-Key": KEY}, {"Authorization": f"bearer {KEY}"}):
            answer = client.post("/api/chat", json={"message": "What is a tuple?"}, headers=headers).json()
            assert answer["grounded"] and answer["sources"][0]["source"] == "week01/tuples.md"


# ---- the LLM server goes away and comes back --------------------------------------------------------
def test_llm_down_is_a_quick_503_and_recovers_without_restarting_the_api(api, llm_server):
    question = {"message": "What is a list comprehension?"}
    llm_server.stop()
    try:
        started = time.monotonic()
        response = httpx.post(f"{api.url}/api/chat", json=question, timeout=TIMEOUT)
        elapsed = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert "language model server" in response.json()["detail"] and elapsed < 20, elapsed
        _no_trace(response.text)

        health = httpx.get(f"{api.url}/health", timeout=TIMEOUT)
        assert health.status_code == 503
        body = health.json()
        assert body["status"] == "degraded" and body["llm"]["ok"] is False and body["database"]["ok"] is True

        # LangServe's routes: a JSON error without a stack trace, also inside a stream
        invoke = httpx.post(
            f"{api.url}/mentor/invoke", json={"input": {"question": "What is a tuple?"}}, timeout=TIMEOUT
        )
        assert invoke.status_code == 503 and "detail" in invoke.json(), invoke.text
        _no_trace(invoke.text)
        with httpx.stream(
            "POST", f"{api.url}/mentor/stream", json={"input": {"question": "What is a set?"}}, timeout=TIMEOUT
        ) as stream:
            events = _sse(stream)
        assert events and events[-1][0] == "error", events
        assert json.loads(events[-1][1])["status_code"] == 503, events  # as every other route says
        _no_trace(json.dumps(events))
        with httpx.stream("POST", f"{api.url}/api/chat/stream", json=question, timeout=TIMEOUT) as stream:
            events = _sse(stream)
        assert events[-1][0] == "error" and json.loads(events[-1][1])["status"] == 503, events
        _no_trace(json.dumps(events))
        chat = httpx.post(
            f"{api.url}/mentor/chat/invoke",
            json={"input": {"messages": [{"type": "human", "content": "What is a dict?"}]}},
            timeout=TIMEOUT,
        )
        assert chat.status_code == 503 and "detail" in chat.json(), chat.text
        _no_trace(chat.text)
        _pooled_client_survives_outage_answers(api)
    finally:
        if llm_server.proc.poll() is not None:
            llm_server.start()

    response = httpx.post(f"{api.url}/api/chat", json=question, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["response"].strip()
    assert httpx.get(f"{api.url}/health", timeout=TIMEOUT).json()["status"] == "ok"


def _pooled_client_survives_outage_answers(api) -> None:
    """One keep-alive connection across 503s: the server used to close it after each (uvicorn's "Exception in
    ASGI application"), so the next request on it failed with ReadError, RemoteRunnable's included."""
    before = api.log.read_text(errors="replace").count("Exception in ASGI application")
    answers = []
    with httpx.Client(base_url=api.url, timeout=TIMEOUT, limits=httpx.Limits(max_connections=1)) as client:
        for question in ("What is a tuple?", "What is a set?", "What is a dict?", "What is a list?", "What is a loop?"):
            answers.append(client.post("/mentor/invoke", json={"input": {"question": question}}).status_code)
            answers.append(client.get("/api/chat/stats").status_code)  # the next request, same connection
    assert answers == [503, 200] * 5, answers
    mentor: RemoteRunnable[dict, dict] = RemoteRunnable(f"{api.url}/mentor")
    for _ in range(2):
        with pytest.raises(httpx.HTTPStatusError):
            mentor.invoke({"question": "What is a tuple?"})  # the pooled client raises the 503, and stays usable
    time.sleep(0.5)
    assert api.log.read_text(errors="replace").count("Exception in ASGI application") == before
    print(f"pooled client across 5 outage answers: {answers}")


# ---- load ------------------------------------------------------------------------------------------------
LOAD_QUESTIONS = [
    "hello!",
    "What is a tuple?",
    "thanks!",
    "What does range(5) produce?",
    "hi there",
    "What is a set?",
    "good morning",
    "What does dict.get do?",
]


def test_sixteen_parallel_clients_all_get_complete_answers(api):
    def ask(n: int) -> tuple[int, dict, float]:
        started = time.monotonic()
        response = httpx.post(
            f"{api.url}/api/chat",
            json={"message": LOAD_QUESTIONS[n % len(LOAD_QUESTIONS)]},
            timeout=httpx.Timeout(600, connect=10),
        )
        return response.status_code, response.json(), time.monotonic() - started

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(ask, range(16)))
    elapsed = time.monotonic() - started
    assert [status for status, _, _ in results] == [200] * 16, [r[1] for r in results if r[0] != 200]
    assert len({body["conversation_id"] for _, body, _ in results}) == 16, "each client its own conversation"
    for _, body, _ in results:
        assert body["response"].strip(), body
        if body["grounded"]:
            assert body["sources"], body
    print(f"16 parallel /api/chat: {elapsed:.1f}s, slowest {max(r[2] for r in results):.1f}s")


# ---- LangServe: stream_events, batch, chat route, OpenAPI -----------------------------------------------------
def test_stream_events_yields_the_draft_tokens(api):
    """stream_events shows the model's raw, unchecked draft: tag "draft", event on_chat_model_stream, node
    "generate" (students get the checked text from /mentor/stream or /api/chat/stream)."""
    body = {
        "input": {"question": "What does range(5) produce?"},
        "include_tags": ["draft"],
        "include_types": ["chat_model"],
    }
    with httpx.stream("POST", f"{api.url}/mentor/stream_events", json=body, timeout=TIMEOUT) as stream:
        events = [json.loads(data) for event, data in _sse(stream) if event == "data"]
    tokens = [
        e["data"]["chunk"]["content"]
        for e in events
        if e["event"] == "on_chat_model_stream" and e["metadata"].get("langgraph_node") == "generate"
    ]
    assert len(tokens) > 3 and "".join(tokens).strip(), [e["event"] for e in events]
    assert {e["event"] for e in events} <= {"on_chat_model_start", "on_chat_model_stream", "on_chat_model_end"}


def test_batch(api):
    response = httpx.post(
        f"{api.url}/mentor/batch",
        json={"inputs": [{"question": "hello!"}, {"question": "What is the capital of France?"}]},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    outputs = response.json()["output"]
    assert [o["route"] for o in outputs] == ["chat", "course"] and all(o["answer"] for o in outputs)
    assert not outputs[1]["grounded"]


def test_chat_route_uses_the_history_it_is_sent(api):
    history = [
        {"type": "human", "content": "What is a generator expression?"},
        {"type": "ai", "content": "A generator expression produces items lazily [1].\n\nSources:\n[1] week03/x"},
        {"type": "human", "content": "and why is it lazy?"},
    ]
    body = {"input": {"messages": history}, "include_names": ["condense_question"]}
    with httpx.stream("POST", f"{api.url}/mentor/chat/stream_events", json=body, timeout=TIMEOUT) as stream:
        events = [json.loads(data) for event, data in _sse(stream) if event == "data"]
    assert any(e["event"] == "on_chain_end" and e["name"] == "condense_question" for e in events), events
    # with a conversation id in the config the server-side conversation is continued instead
    conversation = httpx.post(f"{api.url}/api/conversations", json={}, timeout=TIMEOUT).json()["conversation_id"]
    config = {"configurable": {"conversation_id": conversation}}
    first = httpx.post(
        f"{api.url}/mentor/chat/invoke",
        json={"input": {"messages": [{"type": "human", "content": "What is a list comprehension?"}]}, "config": config},
        timeout=TIMEOUT,
    )
    assert first.status_code == 200 and "Sources:\n[1] week03/" in first.json()["output"], first.text
    state = httpx.post(
        f"{api.url}/mentor/invoke",
        json={"input": {"question": "thanks!", "conversation_id": conversation}},
        timeout=TIMEOUT,
    ).json()["output"]
    assert state["turns"] == 2
    bad = httpx.post(f"{api.url}/mentor/chat/invoke", json={"input": {"messages": []}}, timeout=TIMEOUT)
    assert bad.status_code == 422


def test_openapi_lists_both_langserve_routes(api):
    response = httpx.get(f"{api.url}/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert {"/api/chat", "/mentor/invoke", "/mentor/chat/invoke", "/mentor/chat/stream"} <= set(paths)
    assert httpx.get(f"{api.url}/docs", timeout=TIMEOUT).status_code == 200
