"""The OpenAPI schema says every status a route really answers, in the body and media type it answers with.

FastAPI documents a route's 200 (as JSON) and, for routes with parameters, 422. The statuses answered around the
routes were missing: the roles' 401/403 (server/security.py), the body guard's 413/415/422 (server/body.py), the
error policy's 503/500 (server/errors.py), a missing file's 404; and streams, files, metrics and the CSV export
are not JSON. Each stream's events are described one by one (an event's `data` is JSON: `contentSchema`), and
the per-request knobs' choices and patterns are stated (LangServe's config model keeps only their plain types).
A schema fuzzer's conformance checks (tests/integration/test_hostile_input.py, `--checks all`) hold the server
to this document.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, get_args, get_type_hints

from fastapi import FastAPI
from pydantic import TypeAdapter

from core.answer import Answer, ChatAnswer
from core.inputs import CONVERSATION_ID_PATTERN, MODULE_NAME_PATTERN
from graph.configuration import Configuration
from server.security import required_role

REF = "#/components/schemas/{model}"
ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "title": "Error",
    "type": "object",
    "properties": {
        "detail": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}],
            "title": "Detail",
        }
    },
    "required": ["detail"],
}
WHY = {
    307: "A browser (Accept: text/html) is sent to the chat page.",
    401: "The route needs a key and the request carries none this server knows (Keys and roles).",
    403: "A key of too low a role (a student's on the instructor's or operator's routes), or a student id this "
    "server did not issue (study mode).",
    404: "Nothing of that name: no such file, answer, missing-material row, quiz item or module (or a module with no "
    "quiz items), a conversation id this server did not issue, or a config hash that decodes to no config.",
    413: "A body over MAX_BODY_BYTES, or a question over the limits.",
    415: "A POST whose Content-Type is not application/json.",
    422: "Malformed, non-UTF-8 or too deeply nested JSON, or values the route refuses.",
    500: "A bug: logged with its traceback, never sent.",
    503: "The LLM server, the vector store or a database is unavailable, or nothing is ingested yet.",
}
# Routes that reach a dependency the error policy answers 503 for (the rest answer from memory).
NEEDS_STATE = (
    "/health", "/api/chat", "/api/ingest", "/api/modules", "/api/closest", "/api/feedback", "/api/instructor/",
    "/api/study/",
)  # fmt: skip
LANGSERVE_RUNS = ("/invoke", "/batch", "/stream", "/stream_log", "/stream_events")
NOT_FOUND = ("/files/", "/api/feedback", "/api/instructor/answers/", "/api/instructor/resolved", "/api/study/quiz",
             "/api/study/answer")  # fmt: skip
STUDY_IDS = "/api/study/"  # a student id this server did not issue: 403
RUNS_WITH_IDS = ("/api/chat", "/api/chat/stream", *LANGSERVE_RUNS)  # a conversation id not issued here: 404
MEDIA = {  # 200s that are not JSON
    "/files/{source}": {"application/pdf": {}, "text/html": {"schema": {"type": "string"}}},
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/api/instructor/export.csv": {"text/csv": {"schema": {"type": "string"}}},
}


def _event(name: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """One kind of server-sent event, as a fuzzer parses it ({"event", "data", ...}); `data` holds JSON."""
    properties: dict[str, Any] = {"event": {"const": name}}
    if data is not None:
        properties["data"] = {"type": "string", "contentMediaType": "application/json", "contentSchema": data}
    return {"type": "object", "properties": properties, "required": ["event", "data"] if data else ["event"]}


def _events(*events: dict[str, Any]) -> dict[str, Any]:
    return {"text/event-stream": {"schema": {"oneOf": list(events)}}}


OBJECT: dict[str, Any] = {"type": "object"}
TOKEN = {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}
# The answer's schemas come from its one definition (core/answer.py), as components the routes refer to.
ANSWER = {"$ref": "#/components/schemas/Answer"}
CHAT_ANSWER = {"$ref": "#/components/schemas/ChatAnswer"}
# /api/chat/stream (server/app.py): tokens, then the whole answer; a failure ends it with the policy's status.
CHAT_ERROR = {"type": "object", "properties": {"status": {"type": "integer"}}, "required": ["status", "detail"]}
CHAT_EVENTS = _events(_event("token", {"type": "string"}), _event("final", CHAT_ANSWER), _event("error", CHAT_ERROR))
# LangServe's streams: `metadata` (the run id) first on /stream, `data` chunks, then `end` (no data) or an `error`
# in LangServe's shape, its status set by the error policy (server/errors.py).
METADATA = _event("metadata", {"type": "object", "properties": {"run_id": {"type": "string"}}, "required": ["run_id"]})
STREAM_ERROR = _event(
    "error",
    {
        "type": "object",
        "properties": {"status_code": {"type": "integer"}, "message": {"type": "string"}},
        "required": ["status_code", "message"],
    },
)
STREAM_DATA: dict[tuple[str, str], dict[str, Any]] = {  # the `data` of each LangServe stream, by runnable and endpoint
    ("/mentor", "stream"): {"anyOf": [TOKEN, ANSWER]},  # MentorRunnable: tokens, then the whole output
    ("/mentor/chat", "stream"): {"type": "string"},  # ChatMentorRunnable: the answer text, in one chunk
    ("/quiz", "stream"): {"type": "object", "properties": {"items": {"type": "array"}}},  # the quiz, in one chunk
    ("", "stream_log"): {"type": "object", "properties": {"ops": {"type": "array"}}, "required": ["ops"]},
    ("", "stream_events"): {"type": "object", "properties": {"event": {"type": "string"}}, "required": ["event"]},
}


def event_stream(path: str) -> dict[str, Any] | None:
    """The events a stream route sends, or None for a route that is not a stream."""
    if path == "/api/chat/stream":
        return CHAT_EVENTS
    base, _, endpoint = path.rpartition("/")
    base = base.split("/c/{config_hash}")[0]
    data = STREAM_DATA.get((base, endpoint)) or STREAM_DATA.get(("", endpoint))
    if data is None:
        return None
    return _events(METADATA, _event("data", data), _event("end"), STREAM_ERROR)


def configurable(schema: dict[str, Any]) -> None:
    """A LangServe `Configurable` component with what check_configurable enforces: the knobs' choices, the module
    and conversation id patterns (ranges are clamped, not refused, so they stay unstated)."""
    properties = schema.get("properties", {})
    hints = get_type_hints(Configuration)
    for field in fields(Configuration):
        if field.name in properties and get_args(hints[field.name]):
            properties[field.name]["enum"] = list(get_args(hints[field.name]))
    if "module" in properties:
        properties["module"].update(pattern=f"^$|{MODULE_NAME_PATTERN}", maxLength=100)
    if "conversation_id" in properties:
        properties["conversation_id"].update(pattern=CONVERSATION_ID_PATTERN, maxLength=65)


def statuses(method: str, path: str) -> set[int]:
    """What one operation may answer besides its 2xx and FastAPI's 422."""
    found = {500}
    role = required_role(method.upper(), path)
    if path.startswith("/files/"):
        role = "student"  # a key, or a signed link: checked by the route
    if role != "public":
        found.add(401)
    if role in ("instructor", "admin") or path == "/api/ingest" or path.startswith(STUDY_IDS):
        found.add(403)
    if method in ("post", "put"):  # a body: JSON only (server/body.py), within MAX_BODY_BYTES
        found |= {413, 415, 422}
    if path.startswith(NEEDS_STATE) or (path.startswith("/mentor/") and path.endswith(LANGSERVE_RUNS)):
        found.add(503)
    if path.startswith(NOT_FOUND) or path.startswith(("/api/chat", "/mentor/")) and path.endswith(RUNS_WITH_IDS):
        found.add(404)
    if path.startswith("/quiz/") and path.endswith(LANGSERVE_RUNS):  # no such module, or nothing to quiz on
        found.add(404)
    if path == "/" and method == "get":
        found.add(307)
    return found


def answer_schemas() -> dict[str, Any]:
    """The JSON schemas of Answer and ChatAnswer and of what they hold (Source, Support, Verified), by name."""
    schemas: dict[str, Any] = {}
    for model in (Answer, ChatAnswer):
        schema = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every operation's other statuses and non-JSON media types added (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    for name, component in answer_schemas().items():
        components.setdefault(name, component)
    for name, component in components.items():
        if name.endswith("Configurable"):
            configurable(component)
    for name in ("conversation_id", "module"):  # null is taken; the playground's schema just doesn't show it
        components.get("MentorInput", {}).get("properties", {}).get(name, {})["type"] = ["string", "null"]
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            named = {p.get("name") for p in operation.get("parameters", [])}
            for status in sorted(statuses(method, path) | ({404} if "config_hash" in named else set())):
                if str(status) in responses:
                    continue
                body = {"application/json": {"schema": ERROR}} if status != 307 else {}
                if path == "/health" and status == 503:  # the same report as the 200, saying what is down
                    body = {"application/json": {"schema": {"type": "object"}}}
                responses[str(status)] = {"description": WHY[status], **({"content": body} if body else {})}
            ok = next((code for code in ("200", "201", "202") if code in responses), None)
            if ok is None:
                continue
            if path in MEDIA:
                responses[ok]["content"] = MEDIA[path]
            elif (events := event_stream(path)) is not None:
                responses[ok]["content"] = events
    return schema


def install(app: FastAPI) -> None:
    """Serve the documented schema at /openapi.json (built once, like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
