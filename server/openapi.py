"""The OpenAPI schema says every status a route really answers, in the body and media type it answers with.

FastAPI documents a route's 200 (as JSON) and, for routes with parameters, 422. The statuses answered around the
routes were missing: the roles' 401/403 (server/security.py), the body guard's 413/415/422 (server/body.py), the
error policy's 503/500 (server/errors.py), a missing file's 404; and streams, files, metrics and the CSV export
are not JSON. A schema fuzzer's conformance checks (tests/integration/test_hostile_input.py) hold the server to
this document.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from server.security import required_role

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
    403: "A key of too low a role (a student's on the instructor's or operator's routes).",
    404: "Nothing of that name: no such file or answer, or a conversation id this server did not issue.",
    413: "A body over MAX_BODY_BYTES, or a question over the limits.",
    415: "A POST whose Content-Type is not application/json.",
    422: "Malformed, non-UTF-8 or too deeply nested JSON, or values the route refuses.",
    500: "A bug: logged with its traceback, never sent.",
    503: "The LLM server, the vector store or a database is unavailable, or nothing is ingested yet.",
}
# Routes that reach a dependency the error policy answers 503 for (the rest answer from memory).
NEEDS_STATE = (
    "/health", "/api/chat", "/api/ingest", "/api/modules", "/api/closest", "/api/feedback", "/api/instructor/"
)  # fmt: skip
LANGSERVE_RUNS = ("/invoke", "/batch", "/stream", "/stream_log", "/stream_events")
NOT_FOUND = ("/files/", "/api/feedback")
RUNS_WITH_IDS = ("/api/chat", "/api/chat/stream", *LANGSERVE_RUNS)  # a conversation id not issued here: 404
MEDIA = {  # 200s that are not JSON
    "/files/{source}": {"application/pdf": {}, "text/html": {"schema": {"type": "string"}}},
    "/metrics": {"text/plain": {"schema": {"type": "string"}}},
    "/api/instructor/export.csv": {"text/csv": {"schema": {"type": "string"}}},
}
EVENT_STREAM = {"text/event-stream": {"schema": {"type": "string"}}}


def statuses(method: str, path: str) -> set[int]:
    """What one operation may answer besides its 2xx and FastAPI's 422."""
    found = {500}
    role = required_role(method.upper(), path)
    if path.startswith("/files/"):
        role = "student"  # a key, or a signed link: checked by the route
    if role != "public":
        found.add(401)
    if role in ("instructor", "admin") or path == "/api/ingest":
        found.add(403)
    if method == "post":
        found |= {413, 415, 422}
    if path.startswith(NEEDS_STATE) or (path.startswith("/mentor/") and path.endswith(LANGSERVE_RUNS)):
        found.add(503)
    if path.startswith(NOT_FOUND) or path.startswith(("/api/chat", "/mentor/")) and path.endswith(RUNS_WITH_IDS):
        found.add(404)
    if path == "/" and method == "get":
        found.add(307)
    return found


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with every operation's other statuses and non-JSON media types added (in place)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses(method, path)):
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
            elif path.endswith(("/stream", "/stream_log", "/stream_events")):
                responses[ok]["content"] = EVENT_STREAM
    return schema


def install(app: FastAPI) -> None:
    """Serve the documented schema at /openapi.json (built once, like FastAPI's own)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
