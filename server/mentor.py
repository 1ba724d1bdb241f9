"""LangServe's routes for the tutor: /mentor (the Answer as data) and /mentor/chat (the chat playground's text)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from langchain_core.runnables import Runnable
from langserve import APIHandler, add_routes
from sse_starlette.sse import EventSourceResponse

from core.settings import Settings
from graph.chat_runnable import ChatMentorRunnable
from graph.runnable import MentorRunnable
from server import errors
from server.validation import check_configurable, check_langserve_body


def mount(app: FastAPI, mentor: MentorRunnable, settings: Settings) -> None:
    """The runnable at /mentor, and the same runnable in the chat playground's shape at /mentor/chat."""
    serve(app, mentor, "/mentor", settings)
    # {"messages": [...]} → answer text with its sources listed: LangServe's chat playground needs this shape.
    serve(app, ChatMentorRunnable(mentor), "/mentor/chat", settings, playground_type="chat")


def serve(app: FastAPI, runnable: Runnable[Any, Any], path: str, settings: Settings, **options: Any) -> None:
    """LangServe's routes, whose three stream endpoints are served first by ours: the same handler, with a
    failure's `error` event carrying the error policy's status instead of LangServe's fixed 500."""
    options["per_req_config_modifier"] = check_configurable  # config values that reach filters and storage
    handler = APIHandler(runnable, path=path, **options)
    checks = [Depends(check_langserve_body)]
    streams = {"stream": handler.stream, "stream_log": handler.stream_log, "stream_events": handler.astream_events}
    for name, method in streams.items():
        endpoint = _policy_stream(method, settings)
        app.post(f"{path}/{name}", include_in_schema=False, dependencies=checks)(endpoint)
        app.post(f"{path}/c/{{config_hash}}/{name}", include_in_schema=False, dependencies=checks)(endpoint)
    # token_feedback answers only with LangSmith and a token_feedback_config, neither of which this server has:
    # mounted, it was a route whose every call is a 400. Answer feedback goes to POST /api/feedback. (LangServe
    # knows the name, KNOWN_ENDPOINTS, but left it out of its EndpointName type.)
    off: Any = ["token_feedback"]
    add_routes(app, runnable, path=path, dependencies=checks, disabled_endpoints=off, **options)


def _policy_stream(
    method: Callable[..., Awaitable[EventSourceResponse]], settings: Settings
) -> Callable[..., Awaitable[EventSourceResponse]]:
    async def endpoint(request: Request, config_hash: str = "") -> EventSourceResponse:
        response = await method(request, config_hash=config_hash)
        response.body_iterator = errors.langserve_stream_errors(response.body_iterator, settings, request.url.path)
        return response

    return endpoint
