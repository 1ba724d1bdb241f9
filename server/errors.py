"""The error policy of every route, LangServe's included.

A client mistake is a 4xx with a JSON `detail` (422: a list of {loc, msg, type}, as FastAPI documents it;
otherwise a sentence; a well-formed conversation id this server did not issue is a 404, as an unknown thing
is); an unavailable dependency (the LLM server, the vector store, the conversation database) is 503; anything
else is a bug: 500, logged with its traceback, which never reaches the client.
A stream that fails ends with an `error` event carrying the same status.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from functools import lru_cache
from typing import Any

import httpx
import openai
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from langchain_core.exceptions import ContextOverflowError
from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.checkpoints import state_errors, unavailable_detail
from core.conversations import NOT_ISSUED
from core.inputs import QUESTION_TOO_LONG
from core.settings import Settings
from core.store_errors import StoreError
from server.body import reply
from study.quiz import QuizError

log = logging.getLogger("ai_mentor.server")

LLM_ERRORS = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError, httpx.HTTPError)
# Pydantic models whose validation errors are the client's input (LangServe validates batch items outside
# its own error translation, so they arrive here as plain ValidationErrors).
INPUT_MODELS = {"MentorInput", "ChatInput", "QuizInput"}
INTERNAL = "Internal error; see the server log."


def llm_unavailable(settings: Settings, exc: Exception) -> str:
    """The 503 message for an unreachable LLM server."""
    return (
        f"The language model server at {settings.llm_base_url} is unavailable ({type(exc).__name__}). "
        "Start it with ./startup.sh; requests will work again as soon as it answers."
    )


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's 422 shape; LangServe also raises errors that are plain strings ("Invalid JSON body")."""
    out = []
    for err in errors:
        if isinstance(err, dict):
            loc, msg = list(err.get("loc", ["body"])), str(err.get("msg", ""))
            out.append({"loc": loc, "msg": msg, "type": str(err.get("type", "value_error"))})
        else:
            out.append({"loc": ["body"], "msg": str(err), "type": "value_error"})
    return out


def invalid(loc: Sequence[str | int], msg: str) -> RequestValidationError:
    """A 422 for a value the request's schema can't express (a folder that doesn't exist)."""
    return RequestValidationError([{"loc": list(loc), "msg": msg, "type": "value_error"}])


def _overflow(exc: BaseException) -> bool:
    """The LLM server refused a prompt longer than its context (llama.cpp says so in a 400)."""
    return isinstance(exc, ContextOverflowError) or (
        isinstance(exc, openai.BadRequestError) and "context" in str(exc).lower()
    )


def classify(exc: BaseException, settings: Settings) -> tuple[int, Any]:
    """(status, detail) for an exception, by the policy above."""
    if isinstance(exc, RequestValidationError) or (isinstance(exc, ValidationError) and exc.title in INPUT_MODELS):
        errors = validation_errors(exc.errors())
        too_long = [e["msg"] for e in errors if e["type"] == QUESTION_TOO_LONG]
        not_issued = [e["msg"] for e in errors if e["type"] == NOT_ISSUED]
        if too_long:
            return 413, too_long[0]
        return (404, not_issued[0]) if not_issued and len(not_issued) == len(errors) else (422, errors)
    if isinstance(exc, QuizError):  # a quiz the course can't make (/quiz: study/runnable.py); a 422 in FastAPI's shape
        return exc.status, validation_errors([exc.message]) if exc.status == 422 else exc.message
    if isinstance(exc, HTTPException):
        if exc.status_code == 422 and isinstance(exc.detail, str):  # LangServe's batch checks: FastAPI's shape
            return 422, validation_errors([exc.detail])
        return exc.status_code, exc.detail
    if isinstance(exc, LLM_ERRORS):
        return 503, llm_unavailable(settings, exc)
    if _overflow(exc):
        return 413, (
            "The prompt (question, conversation and notes) with room for the answer exceeds the language model's "
            "context: ask a shorter question, or lower k or max_tokens."
        )
    if isinstance(exc, StoreError):
        return 503, str(exc)
    if isinstance(exc, _state_errors()):
        return 503, unavailable_detail(settings, exc)
    return 500, INTERNAL


@lru_cache(maxsize=1)
def _state_errors() -> tuple[type[BaseException], ...]:
    return state_errors()


def _report(exc: BaseException, status: int, where: str) -> None:
    if status >= 500 and status != 503:
        log.error("unhandled error on %s", where, exc_info=exc)
    elif status == 503:
        log.warning("%s: dependency unavailable: %s", where, type(exc).__name__)


class CatchErrors:
    """ASGI middleware, innermost: an exception no handler took (an LLM outage, a bug) is answered here by the
    policy, and not raised further.

    Starlette's last-resort handler (ServerErrorMiddleware, where an `Exception` handler is registered) re-raises
    after answering, so uvicorn logged a second traceback and closed the connection: the client's next request
    on that keep-alive connection failed (httpx ReadError), which broke every pooled client after one outage."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; on an exception, answer JSON (or end a started body) and return normally."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "finished": False}

        async def tracked(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["finished"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            status, detail = classify(exc, self.settings)
            _report(exc, status, scope.get("path", ""))
            if state["finished"]:
                return
            if state["started"]:  # the head is out: end the body, so the connection stays usable
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await reply(send, status, detail)


def allowed_methods(request: Request) -> str:
    """Every method the routes of this path answer (`Allow` of a 405): GET and POST /api/instructor/answers are
    two routes, and Starlette's 405 listed only the first one's."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] != Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI, settings: Settings) -> None:
    """Register the policy's exception handlers on the app, and `CatchErrors` for every other exception. Call it
    before adding any other middleware: the first added is the innermost."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        status, detail = classify(exc, settings)
        _report(exc, status, request.url.path)
        headers = getattr(exc, "headers", None) if isinstance(exc, HTTPException) else None
        if status == 405:  # Starlette names the first route of the path only; a path may have several
            headers = {**(headers or {}), "Allow": allowed_methods(request)}
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    for exc_class in (RequestValidationError, ValidationError, HTTPException):
        app.add_exception_handler(exc_class, handle)
    app.add_middleware(CatchErrors, settings=settings)


def error_payload(exc: BaseException, settings: Settings, where: str) -> tuple[int, str]:
    """Status and a one-line message for an error inside a stream (a 422's errors joined)."""
    status, detail = classify(exc, settings)
    _report(exc, status, where)
    if isinstance(detail, list):
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail)
    return status, str(detail)


async def langserve_stream_errors(events: AsyncIterable[Any], settings: Settings, where: str) -> AsyncIterator[Any]:
    """LangServe's streams report every failure as 500 (an `error` event, then the exception re-raised):
    replace that event with one carrying the policy's status, in LangServe's shape (RemoteRunnable raises it)."""
    try:
        async for event in events:
            if not (isinstance(event, dict) and event.get("event") == "error"):
                yield event
    except Exception as exc:
        status, message = error_payload(exc, settings, where)
        yield {"event": "error", "data": json.dumps({"status_code": status, "message": message})}
