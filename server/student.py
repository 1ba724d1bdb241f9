"""The student page's own routes: a new conversation, and the notes nearest to a question the tutor refused."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException

from classroom.closest import closest_sources, modules_elsewhere
from core.conversations import issue_conversation_id
from core.settings import Settings
from server.schemas import ClosestRequest, ExcerptRequest, NewConversation
from views.render import render_excerpt


def student_router(settings: Settings) -> APIRouter:
    """POST /api/conversations, /api/closest and /api/excerpts."""
    router = APIRouter()

    @router.post("/api/conversations", status_code=201, tags=["web"])
    async def new_conversation(body: NewConversation) -> dict[str, Any]:
        """A new conversation id, issued by the server (128 random bits, signed): only ids it issued open a
        conversation, so no one can guess or choose another student's."""
        return {"conversation_id": issue_conversation_id(settings)}

    @router.post("/api/closest", tags=["web"])
    async def closest(body: ClosestRequest) -> dict[str, Any]:
        """The nearest notes to a question, below the relevance floor too (a refusal names them); with a module,
        also the other modules whose notes pass the floor (`elsewhere`, best first)."""
        try:
            sources = await asyncio.to_thread(closest_sources, body.question, body.module or "")
        except ValueError as exc:  # an invalid module name
            raise HTTPException(422, str(exc)) from exc
        elsewhere = await asyncio.to_thread(modules_elsewhere, body.question, body.module) if body.module else []
        return {"sources": sources, "elsewhere": elsewhere}

    @router.post("/api/excerpts", tags=["web"])
    async def excerpts(body: ExcerptRequest) -> dict[str, Any]:
        """Each source's excerpt as sanitised HTML: its Markdown rendered, cut at a sentence or line, the
        sentences the answer cited it for marked."""

        def render() -> list[dict[str, Any]]:
            return [{"n": s.n, "html": render_excerpt(s.text, s.cited, s.source)} for s in body.sources]

        return {"excerpts": await asyncio.to_thread(render)}

    return router
