"""Study mode's routes (study/ holds the logic): a quiz, an answer graded with its review scheduled, a student's
progress, and the class's results for the instructor (/api/instructor/study: the instructor's key,
server/security.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

from core.secret import derived_key
from core.settings import Settings
from core.sources import location
from core.text import lemma
from study.bank import BankCache
from study.grading import MAX_ANSWER_CHARS, grade
from study.progress import StudyProgress
from study.quiz import DEFAULT_ITEMS, MAX_ITEMS, QuizError, QuizRequest, candidates, choose, index_topics
from study.students import is_student_id, issue_student_id
from views.files import SourceFiles

log = logging.getLogger("ai_mentor.server")
STUDENT_ID_PATTERN = r"^[0-9a-f]{32}-[0-9a-f]{32}$"
NOT_ISSUED = "This student_id was not issued by this server: start with POST /api/study/quiz without one."


class QuizBody(BaseModel):
    """Body of POST /api/study/quiz."""

    scope: Literal["module", "topic", "course"] = "course"
    module: str = Field("", max_length=100, description="The module (a top folder of the course): scope 'module'.")
    topic: str = Field("", max_length=500, description="Free text, matched on its content words: scope 'topic'.")
    n: int = Field(DEFAULT_ITEMS, ge=1, le=MAX_ITEMS, strict=True)
    student_id: str | None = Field(None, max_length=65, pattern=STUDENT_ID_PATTERN, description="Omit to get one.")


class AnswerBody(BaseModel):
    """Body of POST /api/study/answer."""

    student_id: str = Field(..., max_length=65, pattern=STUDENT_ID_PATTERN)
    item_id: str = Field(..., min_length=16, max_length=16, pattern=r"^[0-9a-f]{16}$")
    answer: str = Field(..., max_length=MAX_ANSWER_CHARS)


def _warm_up(banks: BankCache, language: str) -> None:
    try:
        index_topics(banks.get(), language)
        lemma("lists")
    except Exception:  # a course that can't be read now is reported by the quiz that needs it
        log.warning("study mode: building the quiz items at start failed", exc_info=True)


def study_router(settings: Settings, banks: BankCache) -> APIRouter:
    """The study routes; their lifespan opens the progress database (app.state.study)."""
    progress = StudyProgress(settings.interactions_url, salt=derived_key(settings, "study-salt"))
    files = SourceFiles(settings)  # the feedback's link to its source, as an answer's citations link theirs

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(progress.start)
        app.state.study = progress
        # The bank is built in the background (course_materials/: 1.8 s), so the first quiz is fast too; and
        # the lemmatiser's tables are loaded now: a cold first grade took 190 ms, a warm one 0.16 ms.
        warm = asyncio.create_task(asyncio.to_thread(_warm_up, banks, settings.course_language))
        try:
            yield
        finally:
            await asyncio.gather(warm, return_exceptions=True)
            await asyncio.to_thread(progress.close)

    router = APIRouter(lifespan=lifespan)

    def issued(student_id: str) -> str:
        if not is_student_id(student_id, settings):
            raise HTTPException(403, NOT_ISSUED)
        return student_id

    @router.post("/api/study/quiz", tags=["study"])
    async def quiz(body: QuizBody) -> dict[str, Any]:
        """Items of a module, a topic or the whole course (no keys): the student's due reviews first, then the
        item kinds in turn. Without a student_id, a new one is issued (the page keeps it)."""
        student_id = issued(body.student_id) if body.student_id else issue_student_id(settings)
        bank = await asyncio.to_thread(banks.get)
        request = QuizRequest(body.scope, body.module, body.topic, body.n)
        try:
            items = candidates(bank, request, settings.course_language)
        except QuizError as exc:
            raise HTTPException(exc.status, exc.message) from exc
        due = [d["item_id"] for d in await asyncio.to_thread(progress.due, student_id)]
        chosen = choose(items, body.n, due, seed=f"{student_id}:{time.time_ns()}")
        due_set = set(due)
        return {
            "student_id": student_id,
            "scope": body.scope,
            "module": body.module,
            "topic": body.topic,
            "items": [{**item.public(), "review": item.id in due_set} for item in chosen],
        }

    @router.post("/api/study/answer", tags=["study"])
    async def answer(body: AnswerBody) -> dict[str, Any]:
        """Grade an answer in code; feedback quotes the source with its citation; the item's review is
        scheduled (FSRS) and the student's mastery of its module and kind reported."""
        student_id = issued(body.student_id)
        bank = await asyncio.to_thread(banks.get)
        item = bank.by_id.get(body.item_id)
        if item is None:
            raise HTTPException(404, "No quiz item has this item_id (the materials may have changed: take a new quiz).")
        result = grade(item, body.answer, settings.course_language)
        reviewed = await asyncio.to_thread(progress.record, student_id, item, result.correct, body.answer, bank.items)
        citation = item.citation.as_dict()
        citation["href"] = files.href(citation)  # opens the file at the cited lines, page, cell or anchor
        verdict = "Right." if result.correct else f"Not quite: the answer is {item.key}."
        return {
            "item_id": item.id,
            "correct": result.correct,
            "how": result.how,
            "expected": item.key,
            "feedback": f'{verdict} The source says: "{item.quote}" ({location(citation)})',
            "quote": item.quote,
            "citation": citation,
            "next_review": reviewed.next_review,
            "mastery": reviewed.mastery,
            "module_mastery": reviewed.module_mastery,
        }

    @router.get("/api/study/progress", tags=["study"])
    async def student_progress(
        student_id: str = Query(..., max_length=65, pattern=STUDENT_ID_PATTERN),
    ) -> dict[str, Any]:
        """Mastery per module and per item kind, the reviews due now and the next ones."""
        issued(student_id)
        bank = await asyncio.to_thread(banks.get)

        def read() -> dict[str, Any]:
            return {
                **progress.mastery(student_id, bank.items),
                "due": progress.due(student_id),
                "upcoming": progress.upcoming(student_id),
            }

        return {"student_id": student_id, **await asyncio.to_thread(read)}

    @router.get("/api/instructor/study", tags=["instructor"])
    async def class_study() -> dict[str, Any]:
        """Accuracy per module and the items students miss most, with their keys and sources."""
        bank = await asyncio.to_thread(banks.get)
        stats = await asyncio.to_thread(progress.class_stats, bank.by_id)
        for missed in stats["most_missed"]:
            if missed["citation"]:  # the instructor page links each missed item to its source
                missed["citation"]["href"] = files.href(missed["citation"])
        items_per_module: dict[str, int] = {}
        for item in bank.items:
            items_per_module[item.module] = items_per_module.get(item.module, 0) + 1
        return {**stats, "items_per_module": items_per_module}

    return router
