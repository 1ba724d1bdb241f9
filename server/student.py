"""The student page's own routes: a new conversation, and the notes nearest to a question the tutor refused."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException

from classroom.closest import closest_sources
from core.conversations import issue_conversation_id
from core.settings import Settings
from server.schemas import ClosestRequest, NewConversation


def student_router(settings: Settings) -> APIRouter:
    """POST /api/conversations and POST /api/closest."""
    router = APIRouter()

    @router.post("/api/conversations", status_code=201, tags=["web"])
    async def new_conversation(body: NewConversation) -> dict[str, Any]:
        """A new conversation id, issued by the server (128 random bits, signed): only ids it issued open a
        conversation, so no one can guess or choose another student's."""
        return {"conversation_id": issue_conversation_id(settings)}

    @router.post("/api/closest", tags=["web"])
    async def closest(body: ClosestRequest) -> dict[str, Any]:
        """The nearest notes to a question, below the relevance floor too (a refusal names them)."""
        try:
            return {"sources": await asyncio.to_thread(closest_sources, body.question, body.module or "")}
        except ValueError as exc:  # an invalid module name
            raise HTTPException(422, str(exc)) from exc

    return router
