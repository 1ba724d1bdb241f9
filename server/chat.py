"""The original app's chat routes: POST /api/chat (one JSON answer) and /api/chat/stream (server-sent events).

Both return the one answer shape, `ChatAnswer` (core/answer.py): the JSON body, and the stream's `final` event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, HTTPException, Request
from sse_starlette.sse import EventSourceResponse

from core.answer import ChatAnswer, chat_answer
from core.settings import Settings
from graph.runnable import MentorRunnable
from server import errors
from server.schemas import ChatRequest

INGEST_HINT = "No course materials are ingested yet. Run: python -m loaders --directory course_materials/"


async def require_materials(request: Request) -> None:
    """A question before any ingest is a 503 that says what to run, not a refusal."""
    if await asyncio.to_thread(request.app.state.store.count) == 0:
        raise HTTPException(503, INGEST_HINT)


def chat_router(settings: Settings, mentor: MentorRunnable) -> APIRouter:
    """/api/chat and /api/chat/stream, answered by `mentor`."""
    router = APIRouter(tags=["chat"])

    @router.post("/api/chat", response_model=ChatAnswer)
    async def chat(body: ChatRequest, request: Request) -> ChatAnswer:
        """The answer to one question, with its sources and how it was checked."""
        await require_materials(request)  # after the body's checks: a malformed request is a 422 either way
        payload = {"question": body.message, "conversation_id": body.conversation_id, "module": body.module}
        return chat_answer(await mentor.ainvoke(payload))

    @router.post("/api/chat/stream")
    async def chat_stream(body: ChatRequest, request: Request) -> EventSourceResponse:
        """Server-sent events: `token` events while the answer is written, then one `final` event (the same
        ChatAnswer as /api/chat); a failure ends the stream with an `error` event {"status", "detail"}."""
        await require_materials(request)

        async def events() -> AsyncIterator[dict[str, str]]:
            payload = {"question": body.message, "conversation_id": body.conversation_id, "module": body.module}
            try:
                async for chunk in mentor.astream(payload):
                    if "token" in chunk:
                        yield {"event": "token", "data": json.dumps(chunk["token"])}
                    else:
                        yield {"event": "final", "data": json.dumps(chat_answer(chunk))}
            except Exception as exc:
                status, detail = errors.error_payload(exc, settings, request.url.path)
                yield {"event": "error", "data": json.dumps({"status": status, "detail": detail})}

        return EventSourceResponse(events())

    return router
