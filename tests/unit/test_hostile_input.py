"""Validation, the error policy, the body guard and log redaction, without servers (issue 16's reproducers)."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import httpx
import openai
import pytest
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from core import factories
from core.conversations import issue_conversation_id
from core.inputs import question_token_budget
from core.settings import COURSE_DIR, Settings
from core.store_errors import StoreError
from graph.chat_runnable import ChatInput
from graph.runnable import MentorInput
from server import errors
from server.body import MAX_JSON_DEPTH, BodyGuard, json_depth_exceeds, require_json
from server.schemas import ChatRequest, IngestRequest
from server.security import RedactCredentials, redact
from server.validation import ConfigurableInput, check_configurable, check_langserve_body


def _error_types(exc: pytest.ExceptionInfo) -> list[str]:
    return [e["type"] for e in exc.value.errors()]


# ---- one validation for /api/* and /mentor/* ----------------------------------------------------------
@pytest.mark.parametrize("model", [MentorInput, ChatRequest])
@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("question", "   ", "blank"),
        ("question", "hi \ud800", "string_unicode"),
        ("question", "what\x00is", "string_nul"),
        ("question", "x" * 4001, "question_too_long"),
        ("question", "7" * 3000, "question_too_long"),  # 3,000 characters, 3,000 tokens: over the budget
        ("conversation_id", "../../etc/passwd", "string_pattern_mismatch"),
        ("conversation_id", "a" * 66, "string_too_long"),
        ("conversation_id", "t1", "string_pattern_mismatch"),  # the README's old example: a client-chosen id
        ("conversation_id", "0" * 32 + "-" + "0" * 32, "conversation_not_issued"),  # an issued id's shape, forged
        ("module", 'x" or module != "', "string_pattern_mismatch"),
    ],
)
def test_the_same_rules_on_both_apis(model, field, value, error):
    names = {"question": "message"} if model is ChatRequest else {}
    body = {names.get("question", "question"): "What is a list?", names.get(field, field): value}
    with pytest.raises(ValidationError) as exc:
        model.model_validate(body)
    assert _error_types(exc) == [error]


def test_a_good_question_is_stripped_and_kept():
    conversation = issue_conversation_id()
    request = MentorInput.model_validate(
        {"question": "  What is a list?  ", "conversation_id": conversation, "module": "week 03"}
    )
    assert request.question == "What is a list?" and request.conversation_id == conversation
    english = "Why is a list comprehension faster than a loop? " * 81  # 3,969 characters, ~800 tokens
    assert ChatRequest.model_validate({"message": english}).message == english.strip()


def test_the_token_budget_counts_tokens_not_characters():
    settings = Settings()
    assert question_token_budget(settings) == settings.llm_n_ctx // 4
    assert factories.count_tokens("7" * 100) == 100  # SmolLM2 reads digits one by one
    assert factories.count_tokens("What is a list comprehension? " * 10) < 100
    assert factories.count_tokens("😀" * 10) > 10


def test_tokens_are_counted_as_bytes_without_a_model_file(monkeypatch):
    def missing(settings=None):
        raise factories.ModelNotFoundError("no model")

    monkeypatch.setattr(factories, "llm_model_path", missing)
    assert factories.count_tokens("é😀") == len("é😀".encode())


def test_chat_playground_question_follows_the_same_rules():
    with pytest.raises(ValidationError) as exc:
        ChatInput.model_validate({"messages": [{"type": "human", "content": "x" * 5000}]})
    assert _error_types(exc) == ["question_too_long"]
    with pytest.raises(ValidationError):
        ChatInput.model_validate({"messages": [{"type": "human", "content": "  "}]})


def test_config_values_reaching_filters_and_storage_are_checked():
    assert check_configurable({"configurable": {"module": "", "k": 3}}, None)
    assert check_configurable({}, None) == {}
    for configurable in ({"module": 'x" or module != "'}, {"conversation_id": "../x"}, {"conversation_id": "t1"}):
        with pytest.raises(ValidationError):
            check_configurable({"configurable": configurable}, None)
    assert ConfigurableInput.model_validate({"module": "week03", "temperature": 0.2}).module == "week03"


@pytest.mark.parametrize("directory", ["", "course_materials", ".", "/tmp/a\x00b", "/" + "a" * 5000])
def test_ingest_directory_must_be_a_plain_absolute_path(directory):
    with pytest.raises(ValidationError):
        IngestRequest.model_validate({"directory": directory})


def test_ingest_roots_default_to_the_course_folder_not_the_project():
    assert Settings().ingest_roots == [str(COURSE_DIR)]


# ---- the error policy -----------------------------------------------------------------------------------
SETTINGS = Settings()


def test_langserve_string_errors_become_fastapi_shaped_422():
    status, detail = errors.classify(RequestValidationError(["Invalid JSON body"]), SETTINGS)
    assert status == 422 and detail == [{"loc": ["body"], "msg": "Invalid JSON body", "type": "value_error"}]


def test_input_model_errors_are_422_and_too_long_is_413():
    with pytest.raises(ValidationError) as blank:
        MentorInput.model_validate({})
    assert errors.classify(blank.value, SETTINGS)[0] == 422
    with pytest.raises(ValidationError) as long:
        MentorInput.model_validate({"question": "x" * 4001})
    assert errors.classify(long.value, SETTINGS) == (413, "The question is longer than 4000 characters.")


def test_other_validation_errors_are_bugs():
    from pydantic import BaseModel

    class Internal(BaseModel):
        n: int

    with pytest.raises(ValidationError) as exc:
        Internal.model_validate({"n": "x"})
    assert errors.classify(exc.value, SETTINGS) == (500, errors.INTERNAL)
    assert errors.classify(KeyError("secret"), SETTINGS) == (500, errors.INTERNAL)


def test_langserve_422_sentences_get_fastapis_shape():
    from starlette.exceptions import HTTPException

    status, detail = errors.classify(HTTPException(422, "Number of configs (1) must match"), SETTINGS)
    assert status == 422 and detail[0]["msg"] == "Number of configs (1) must match"
    assert errors.classify(HTTPException(404, "Not Found"), SETTINGS) == (404, "Not Found")


@pytest.mark.parametrize(
    ("path", "body", "refused"),
    [
        ("/mentor/invoke", {"input": {}, "config": None}, True),
        ("/mentor/invoke", {"input": {}, "config": []}, True),
        ("/mentor/batch", {"inputs": [], "config": []}, False),
        ("/mentor/batch", {"inputs": None, "config": []}, True),
        ("/mentor/batch", {"inputs": "AAA"}, True),
        ("/mentor/invoke", {"input": {}, "config": {}}, False),
        ("/mentor/invoke", [1, 2], False),  # not an object: LangServe's own 422
    ],
)
def test_langserve_config_must_be_an_object(path, body, refused):
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    errors.install(app, SETTINGS)
    app.post(path, dependencies=[Depends(check_langserve_body)])(lambda: {"ok": True})
    response = TestClient(app).post(path, json=body)
    assert response.status_code == (422 if refused else 200), response.text
    if refused:
        assert response.json()["detail"][0]["loc"][0] == "body"


def test_dependency_outages_are_503_and_context_overflow_is_413():
    request = httpx.Request("POST", "http://llm/v1/chat/completions")
    assert errors.classify(openai.APIConnectionError(request=request), SETTINGS)[0] == 503
    assert errors.classify(httpx.ConnectError("refused"), SETTINGS)[0] == 503
    assert errors.classify(StoreError("database locked"), SETTINGS) == (503, "database locked")
    response = httpx.Response(400, request=request)
    overflow = openai.BadRequestError("This model's maximum context length is 4096 tokens.", response=response, body={})
    assert errors.classify(overflow, SETTINGS)[0] == 413
    other = openai.BadRequestError("temperature must be a number", response=response, body={})
    assert errors.classify(other, SETTINGS)[0] == 500


def test_langserve_stream_error_event_carries_the_policy_status():
    async def failing():
        yield {"event": "data", "data": "{}"}
        yield {"event": "error", "data": json.dumps({"status_code": 500, "message": "Internal Server Error"})}
        raise openai.APIConnectionError(request=httpx.Request("POST", "http://llm"))

    async def collect() -> list[dict]:
        return [e async for e in errors.langserve_stream_errors(failing(), SETTINGS, "/mentor/stream")]

    events = asyncio.run(collect())
    assert [e["event"] for e in events] == ["data", "error"]
    assert json.loads(events[-1]["data"])["status_code"] == 503


# ---- the body guard -------------------------------------------------------------------------------------
def _run_guard(
    chunks: list[bytes],
    content_type: str | None = "application/json",
    method: str = "POST",
    length: int | None = None,
    max_bytes: int = 1024,
) -> tuple[int, dict, int, bytes | None]:
    """(status, body, bytes the client had sent when the answer came, body the app saw)."""
    seen: dict = {}

    async def app(scope, receive, send):
        message = await receive()
        seen["body"] = message["body"]
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent = {"bytes": 0}
    pending = list(chunks)

    async def receive():
        chunk = pending.pop(0)
        sent["bytes"] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    out: list[dict] = []

    async def send(message):
        out.append(message)

    headers = [(b"content-type", content_type.encode())] if content_type else []
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    scope = {"type": "http", "method": method, "path": "/mentor/invoke", "headers": headers}
    asyncio.run(BodyGuard(app, max_bytes=max_bytes)(scope, receive, send))
    status = out[0]["status"]
    return status, json.loads(out[1]["body"]), sent["bytes"], seen.get("body")


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit():
    status, body, sent, seen = _run_guard([b"x" * 100] * 1000)  # 100 KB in 100-byte chunks, no length
    assert status == 413 and "larger than 1024 bytes" in body["detail"]
    assert sent <= 1024 + 100 and seen is None, "stops reading at the limit; the app never runs"


def test_a_declared_length_over_the_limit_is_refused_before_reading():
    status, _, sent, seen = _run_guard([b"{}"], length=10_000_000)
    assert status == 413 and sent == 0 and seen is None


def test_a_body_within_the_limit_reaches_the_app_whole():
    status, _, _, seen = _run_guard([b'{"input":', b' {"question": "hi"}}'])
    assert status == 200 and seen == b'{"input": {"question": "hi"}}'


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/x"])
def test_posts_must_be_json_where_a_post_route_exists(content_type):
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI(dependencies=[Depends(require_json)])
    app.post("/ask")(lambda: {"ok": True})
    app.get("/status")(lambda: {"ok": True})
    client = TestClient(app)
    headers = {"Content-Type": content_type} if content_type else {}
    refused = client.post("/ask", content=b'{"question": "hi"}', headers=headers)
    assert refused.status_code == 415 and "application/json" in refused.json()["detail"]
    assert client.post("/ask", json={"question": "hi"}).status_code == 200
    assert client.put("/status", headers=headers).status_code == 405  # the router answers first
    assert client.post("/nowhere", headers=headers).status_code == 404


def test_json_variants_and_gets_pass():
    assert (_run_guard([b"{}"], "application/json; charset=utf-8"))[0] == 200
    assert (_run_guard([b"{}"], "application/merge-patch+json"))[0] == 200
    assert (_run_guard([b""], None, method="GET"))[0] == 200
    assert (_run_guard([b"\x94"], "text/plain"))[0] == 200  # not JSON: require_json refuses it after routing


def test_a_body_that_is_not_utf8_is_422():
    status, body, _, seen = _run_guard([b"\x94QIPC"])
    assert status == 422 and body["detail"][0]["type"] == "json_invalid" and seen is None


@pytest.mark.parametrize("levels", [65, 1_000, 10_000])
def test_deeply_nested_json_is_422_at_once(levels):
    body = ('{"input": ' + "[" * levels + "]" * levels + "}").encode()
    started = time.perf_counter()
    status, answer, _, seen = _run_guard([body], max_bytes=65536)  # the default MAX_BODY_BYTES
    elapsed = time.perf_counter() - started
    assert status == 422 and answer["detail"][0]["type"] == "json_too_deep" and seen is None
    assert elapsed < 0.05, elapsed


def test_brackets_inside_strings_and_nesting_within_the_limit_pass():
    assert not json_depth_exceeds(json.dumps({"question": "[" * 5000 + '\\"{' * 100}).encode())
    assert not json_depth_exceeds(("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH).encode())
    assert json_depth_exceeds(("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)).encode())
    wide = json.dumps({"input": {"messages": [{"type": "human", "content": [{"text": "x"}]}] * 200}}).encode()
    assert not json_depth_exceeds(wide), "many brackets side by side are not depth"
    largest = ("{" + '"a": ' + json.dumps("[{" * 30_000) + "}").encode()  # a 60 KB body scanned to its end
    started = time.perf_counter()
    assert not json_depth_exceeds(largest)
    print(f"depth scan of a {len(largest):,}-byte body: {(time.perf_counter() - started) * 1000:.1f} ms")


# ---- errors never cost the connection --------------------------------------------------------------------
def test_a_pooled_client_survives_500s_and_503s_on_one_connection():
    """A real uvicorn: Starlette's last-resort handler used to re-raise after answering, and uvicorn then closed
    the keep-alive connection, so the client's next request on it failed (httpx ReadError)."""
    import threading

    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    errors.install(app, SETTINGS)
    connections: list[object] = []

    @app.get("/bug")
    async def bug() -> dict:
        raise RuntimeError("a bug")

    @app.get("/outage")
    async def outage() -> dict:
        raise httpx.ConnectError("the LLM server refused the connection")

    @app.get("/ok")
    async def ok(request: Request) -> dict:
        connections.append(request.scope["client"])
        return {"ok": True}

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for _ in range(5):
                bug_answer, outage_answer = client.get("/bug"), client.get("/outage")
                assert bug_answer.status_code == 500 and bug_answer.json()["detail"] == errors.INTERNAL
                assert outage_answer.status_code == 503 and "language model" in outage_answer.json()["detail"]
                assert client.get("/ok").json() == {"ok": True}  # ReadError here before
        assert len(connections) == 5 and len(set(connections)) == 1, "one connection served all 15 requests"
    finally:
        server.should_exit = True
        thread.join(10)


# ---- logs -----------------------------------------------------------------------------------------------
def test_credentials_in_query_strings_are_redacted():
    assert redact("/api/chat/stats?api_key=SECRET&x=1") == "/api/chat/stats?api_key=***&x=1"
    assert redact("/x?access_token=abc&password=p&topic=keyboard") == "/x?access_token=***&password=***&topic=keyboard"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/health?token=SECRET", "1.1", 401), None,
    )  # fmt: skip
    assert RedactCredentials().filter(record) and "SECRET" not in record.getMessage()
