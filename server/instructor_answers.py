"""The instructor's answers, wired (classroom/answers.py): /api/instructor/answers, under the instructor's key
like every /api/instructor/ route (server/security.py). Publishing and retracting re-ingest the answers' folder
at once, as POST /api/ingest ingests a folder (loaders.ingest.ingest_directory, under the server's ingest lock),
so the next question already finds a published answer and no longer finds a retracted one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import PurePath
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, HTTPException, Path, Request

from classroom import reports, resolved
from classroom.answered import usage
from classroom.answers import FILE_PREFIX, ID_PATTERN, AnswerBook, AnswerError, InstructorAnswer, UnknownAnswer
from core.secret import derived_key, sign
from core.settings import Settings
from server import errors
from server.ingest import ingest_locked, unreadable
from server.schemas import InstructorAnswerRequest, PublishRequest, ResolveRequest
from server.security import presented_key
from views.files import SourceFiles
from views.render import render_answer

T = TypeVar("T")
AnswerId = Path(..., pattern=ID_PATTERN, description="The answer's id (16 hex digits).")


def instructor_answers_router(settings: Settings) -> APIRouter:
    """List, write, publish and retract the instructor's answers; the book opens in the router's lifespan."""
    folder = settings.instructor_answers_path
    files = SourceFiles(settings)
    book = AnswerBook(settings.interactions_url, folder, files.modules, lambda s: files.resolve(s) is not None)
    audit_key = derived_key(settings, "audit-keys")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(book.start)
        await asyncio.to_thread(resolved.start, book.database)
        app.state.instructor_answers = book
        try:
            yield
        finally:
            await asyncio.to_thread(book.close)

    router = APIRouter(lifespan=lifespan, tags=["instructor"])

    def who(request: Request) -> str:
        """The writer, for the audit trail: a keyed hash of the key sent (never the key; "" without one)."""
        key = presented_key(request.scope["headers"])
        return sign(audit_key, "audit:" + key.decode("latin-1"), 16) if key else ""

    def shown(answer: InstructorAnswer) -> dict[str, Any]:
        return {**answer.to_dict(), "html": render_answer(answer.body)}  # the sanitiser: never raw Markdown

    async def call(write: Callable[[], T]) -> T:
        """Run a book operation off the event loop; its refusals as 422 / 404, a folder it can't write as 503."""
        try:
            return await asyncio.to_thread(write)
        except AnswerError as exc:
            raise errors.invalid(("body", exc.field), str(exc)) from exc
        except UnknownAnswer as exc:
            raise HTTPException(404, "No instructor answer has this id.") from exc
        except OSError as exc:  # the answers' folder full, read-only or gone: the file system's, not a bug
            raise HTTPException(503, f"The instructor answers' folder can't be written: {exc.strerror or exc}") from exc

    async def ingested(
        request: Request, answer_id: str, change: Callable[[], Awaitable[InstructorAnswer]]
    ) -> dict[str, Any]:
        """Change the folder and ingest it, together under the ingest lock (two publishes never interleave)."""
        await call(lambda: book.get(answer_id))  # an unknown id is a 404 whatever the folder's state
        refused = unreadable(folder, settings)
        if refused:
            raise HTTPException(503, f"INSTRUCTOR_ANSWERS_DIR: {refused}")
        async with request.app.state.ingest_lock:
            answer = await change()
            try:
                await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            except OSError as exc:
                raise HTTPException(503, f"The instructor answers' folder can't be written: {exc.strerror}") from exc
            report = await ingest_locked(request, settings, folder, what="The instructor answers' folder")
        return {**shown(answer), "ingest": report.summary()}

    @router.get("/api/instructor/answers")
    async def list_answers(request: Request) -> dict[str, Any]:
        """Every answer (drafts, published, retracted), the most recently written first, each also as HTML; a
        published one with `usage`: the recorded answers to students that cited it, and their ratings (null
        when the interaction log is off)."""
        log = request.app.state.interactions

        def listed() -> list[dict[str, Any]]:
            answers = book.all()
            used = usage(log.database, [a.source for a in answers if a.source]) if log is not None else {}
            return [{**shown(a), "usage": used.get(a.source)} for a in answers]

        return {"answers": await call(listed), "folder": str(folder)}

    @router.post("/api/instructor/answers", status_code=201)
    async def create_answer(body: InstructorAnswerRequest, request: Request) -> dict[str, Any]:
        """A draft answer to a question: Markdown, scoped to a module of the course or (module "") all of it;
        `asked`: the student's question it answers, whose askers /chat then tells (POST /api/conversations/answered)."""
        writer = who(request)
        return shown(
            await call(lambda: book.create(body.question, body.body, body.module, writer, body.asked, body.file))
        )

    @router.put("/api/instructor/answers/{answer_id}")
    async def edit_answer(body: InstructorAnswerRequest, request: Request, answer_id: str = AnswerId) -> dict[str, Any]:
        """Replace an answer (the last write wins; `updated` says when). A published one is re-ingested at once."""
        writer = who(request)
        edited = await call(lambda: book.get(answer_id))
        if edited.state != "published":
            return shown(
                await call(lambda: book.edit(answer_id, body.question, body.body, body.module, writer, body.file))
            )
        return await ingested(
            request,
            answer_id,
            lambda: call(lambda: book.edit(answer_id, body.question, body.body, body.module, writer, body.file)),
        )

    @router.post("/api/instructor/answers/{answer_id}/publish")
    async def publish_answer(_body: PublishRequest, request: Request, answer_id: str = AnswerId) -> dict[str, Any]:
        """Write the answer into the answers' folder and ingest it: cited as "Instructor answer, <date>".
        Publishing again changes nothing (the same file, no new chunk)."""
        writer = who(request)
        return await ingested(request, answer_id, lambda: call(lambda: book.publish(answer_id, writer)))

    @router.delete("/api/instructor/answers/{answer_id}")
    async def retract_answer(request: Request, answer_id: str = AnswerId) -> dict[str, Any]:
        """Retract an answer: its file deleted and the folder re-ingested, so none of its chunks is left; the
        answer stays listed, retracted, with its audit trail."""
        writer = who(request)
        return await ingested(request, answer_id, lambda: call(lambda: book.retract(answer_id, writer)))

    @router.get("/api/instructor/files")
    async def course_files() -> dict[str, Any]:
        """The course's files an answer may link: the ingest records' sources that can still be opened (inside
        the folder they were ingested from), instructor answers left out."""

        def linkable() -> list[str]:
            sources = sorted(s for s in files.manifest.sources() if not PurePath(s).name.startswith(FILE_PREFIX))
            return [s for s in sources if files.resolve(s) is not None]

        return {"files": await asyncio.to_thread(linkable)}

    @router.post("/api/instructor/resolved")
    async def resolve_row(body: ResolveRequest, request: Request) -> dict[str, Any]:
        """Mark a missing-material row resolved (`resolved` true) or reopen it, by the row's `key` as the summary
        gives it; audited. A key no failed question of the log has is a 404 (nothing to resolve)."""
        log = request.app.state.interactions
        if log is None:
            raise HTTPException(503, "The interaction log is off (INTERACTIONS_ENABLED=false): no rows to resolve.")
        key, writer = body.key.strip(), who(request)
        keys = await asyncio.to_thread(reports.row_keys, log.database, settings.course_language)
        if key not in keys:
            raise HTTPException(404, "No missing-material row has this key.")
        return await asyncio.to_thread(resolved.mark, book.database, key, body.resolved, writer)

    @router.get("/api/instructor/resolved")
    async def resolved_rows() -> dict[str, Any]:
        """The rows marked resolved: key and when (the page's summary says which were asked again since)."""
        found = await asyncio.to_thread(resolved.resolved_at, book.database)
        return {"resolved": [{"key": key, "at": at} for key, at in sorted(found.items(), key=lambda kv: -kv[1])]}

    return router
