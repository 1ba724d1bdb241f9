"""The student page's own routes: a new conversation, the notes nearest to a question the tutor refused, and
which of the student's refused questions an instructor has answered since."""

from __future__ import annotations

import asyncio
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from classroom.answered import answered_questions
from classroom.answers import FILE_PREFIX
from classroom.closest import closest_sources, modules_elsewhere
from classroom.interactions import conversation_hash
from core.conversations import issue_conversation_id, was_issued
from core.settings import Settings
from server.schemas import AnsweredRequest, ClosestRequest, ExcerptRequest, NewConversation
from views.files import SourceFiles
from views.render import render_excerpt


def student_router(settings: Settings) -> APIRouter:
    """POST /api/conversations, /api/conversations/answered, /api/closest and /api/excerpts."""
    router = APIRouter()
    files = SourceFiles(settings)

    @router.post("/api/conversations", status_code=201, tags=["web"])
    async def new_conversation(body: NewConversation) -> dict[str, Any]:
        """A new conversation id, issued by the server (128 random bits, signed): only ids it issued open a
        conversation, so no one can guess or choose another student's."""
        return {"conversation_id": issue_conversation_id(settings)}

    @router.post("/api/conversations/answered", tags=["web"])
    async def answered(body: AnsweredRequest, request: Request) -> dict[str, Any]:
        """Of these conversations (ids this server issued: a browser knows only its own), the questions the
        materials failed that an instructor's published answer now answers, each with a link to that answer.
        The page asks when it opens: no push. An id it did not issue matches nothing."""
        log, book = request.app.state.interactions, request.app.state.instructor_answers
        if log is None:
            raise HTTPException(503, "The interaction log is off (INTERACTIONS_ENABLED=false).")

        def find() -> list[dict[str, Any]]:
            ids = {conversation_hash(log.salt, c): c for c in body.conversation_ids if c and was_issued(c, settings)}
            found = answered_questions(log.database, ids, book.all(), book.asked(), settings.course_language)
            return [{**row, "href": files.href({"source": row["source"]})} for row in found]

        return {"answered": await asyncio.to_thread(find)}

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
            return [{"n": s.n, "html": excerpt(s.text, s.cited, s.source)} for s in body.sources]

        def excerpt(text: str, cited: list[str], source: str) -> str:
            html = render_excerpt(text, cited, source)
            # An instructor answer's "See also" link opens its course file from /chat, in a tab without the key.
            return files.signed_links(html) if PurePath(source).name.startswith(FILE_PREFIX) else html

        return {"excerpts": await asyncio.to_thread(render)}

    return router
