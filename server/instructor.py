"""The interaction log, wired (classroom/): every answer recorded as the runnable gives it, students' verdicts
on answers (POST /api/feedback), and the instructor's reports (/api/instructor/*, the instructor's key:
server/security.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from typing import Any, Protocol

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response

from classroom import reports, resolved
from classroom.closest import closest_sources
from classroom.interactions import InteractionLog
from core.secret import derived_key
from core.settings import Settings
from graph.runnable import Answered
from server.pages import COMMON_HEADERS
from server.schemas import FeedbackRequest
from views.files import SourceFiles


class Answering(Protocol):
    """What feeds the log: the served runnable (graph/runnable.py), which tells its `on_answer` listeners of
    each answer."""

    on_answer: list[Callable[[Answered], None]]


def instructor_router(settings: Settings, mentor: Answering) -> APIRouter:
    """Feedback and the instructor's reports; its lifespan runs the interaction log and tells the runnable to
    feed it (app.state.interactions: the log, or None when INTERACTIONS_ENABLED=false)."""
    interactions = (
        InteractionLog(
            settings.interactions_url,
            settings.interactions_retention_days,
            closest=closest_sources,
            salt=derived_key(settings, "log-salt"),
        )
        if settings.interactions_enabled
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if interactions is not None:
            await asyncio.to_thread(interactions.start)
            mentor.on_answer.append(interactions.record)
        app.state.interactions = interactions
        try:
            yield
        finally:
            if interactions is not None:
                mentor.on_answer.remove(interactions.record)
                await asyncio.to_thread(interactions.close)

    router = APIRouter(lifespan=lifespan)
    course = SourceFiles(settings)

    def log() -> InteractionLog:
        if interactions is None:
            raise HTTPException(503, "The interaction log is off (INTERACTIONS_ENABLED=false).")
        return interactions

    @router.post("/api/feedback", status_code=202, tags=["web"])
    async def feedback(body: FeedbackRequest) -> dict[str, Any]:
        """Thumbs up (1) or down (-1) on an answer, by its answer_id, with an optional comment."""
        if not await asyncio.to_thread(log().add_feedback, body.answer_id, body.rating, body.comment.strip()):
            raise HTTPException(404, "No recorded answer has this answer_id.")
        return {"status": "recorded"}

    @router.get("/api/instructor/summary", tags=["instructor"])
    async def summary(request: Request, days: int = Query(30, ge=1, le=3660)) -> dict[str, Any]:
        """Questions per day, unanswered questions (open and resolved) with their closest sources, per module,
        most cited sources and the course files never cited, rates."""
        database = log().database
        book = getattr(request.app.state, "instructor_answers", None)

        def build() -> dict[str, Any]:
            out = reports.summary(
                database,
                days,
                resolved=resolved.resolved_at(book.database) if book is not None else {},
                files=course.manifest.sources(),
                language=settings.course_language,
                strong=settings.grade_accept_score,
            )
            for row in [*out["unanswered"], *out["resolved"]]:  # the closest material opens at its place
                row["closest"] = [{**s, "href": course.href(s)} for s in row["closest"]]
            return out

        return await asyncio.to_thread(build)

    @router.get("/api/instructor/export.csv", tags=["instructor"])
    async def export(days: int = Query(0, ge=0, le=3660)) -> Response:
        """Every recorded interaction (of the last `days` days; 0 = all) as CSV."""
        text = await asyncio.to_thread(reports.export_csv, log().database, days)
        name = f"ai-mentor-interactions-{datetime.now(timezone.utc):%Y%m%d}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={**COMMON_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
