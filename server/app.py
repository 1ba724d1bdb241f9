"""The API: the app and its wiring. Each concern's routes live in a router of its own (chat, status, ingest, the
web pages, study mode, LangServe's /mentor); this file opens what they share in the lifespan and puts the
middleware around them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from core import factories
from core.checkpoints import open_checkpointer
from core.settings import Settings, get_settings
from core.store import CourseStore
from core.store_errors import DatabaseLockedError
from graph.graph import create_graph
from graph.runnable import MentorRunnable
from server import errors, metrics, openapi
from server.body import BodyGuard, require_json
from server.chat import chat_router
from server.course_files import course_files_router
from server.ingest import ingest_router
from server.instructor import instructor_router
from server.instructor_answers import instructor_answers_router
from server.mentor import mount, serve
from server.pages import pages_router
from server.security import RoleMiddleware, redact_access_log
from server.status import status_router
from server.student import student_router
from server.study import study_router
from study.bank import BankCache
from study.runnable import quiz_runnable

log = logging.getLogger("ai_mentor.server")


async def _open_store(settings: Settings, wait_seconds: float = 30.0) -> CourseStore:
    """The loader may briefly hold the Milvus Lite file; wait for it rather than fail the start."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await asyncio.to_thread(factories.shared_store)
        except DatabaseLockedError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; the store, embeddings and conversation checkpointer open in its lifespan."""
    settings = settings or get_settings()
    # every LLM call timed, the fair queue's depth and every answer counted, for /metrics
    mentor = MentorRunnable(
        callbacks=[metrics.LLM_TIMER], queue_depth=metrics.QUEUE_DEPTH, at_once=settings.answers_at_once
    )
    mentor.on_answer.append(lambda answered: metrics.count_answer(answered.output))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The graph's nodes and every `to_thread` run in the loop's default pool, whose default size here is
        # cpu_count + 4 = 6: six answers waiting for an LLM slot would hold every thread and stall the quotes
        # and the pages behind them. Waiting threads cost no CPU; the CPU-bound work is bounded elsewhere.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(settings.answers_at_once + 16, thread_name_prefix="mentor")
        )
        store = await _open_store(settings)
        await asyncio.to_thread(factories.get_embeddings, settings)
        await asyncio.to_thread(factories.count_tokens, "warm-up", settings)  # loads the model's vocabulary
        try:
            await asyncio.to_thread(store.warm_up)
        except Exception as exc:  # a cold first query is slower, never fatal
            log.warning("search warm-up failed: %s", exc)
        async with open_checkpointer(settings) as saver:
            mentor.graph = create_graph(saver)
            app.state.store = store
            app.state.ingest_lock = asyncio.Lock()
            log.info("AI Mentor ready: %s chunks in %s", store.count(), settings.milvus_collection_name)
            yield

    app = FastAPI(
        title="AI Mentor",
        version="0.1.0",
        description="A local-first tutor that answers from your course materials, with citations.",
        lifespan=lifespan,
        dependencies=[Depends(require_json)],
    )
    errors.install(app, settings)  # first: its middleware must be the innermost, inside the metrics' one
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    app.add_middleware(RoleMiddleware, settings=settings)  # who may call what: server/security.py
    metrics.install(app)
    redact_access_log()

    app.include_router(status_router(settings))
    app.include_router(chat_router(settings, mentor))
    app.include_router(ingest_router(settings))
    app.include_router(pages_router(settings))
    app.include_router(student_router(settings))
    app.include_router(course_files_router(settings))
    app.include_router(instructor_router(settings, mentor))
    app.include_router(instructor_answers_router(settings))
    banks = BankCache.for_settings(settings)  # study mode's items, built once per course state
    app.include_router(study_router(settings, banks))
    mount(app, mentor, settings)
    serve(app, quiz_runnable(banks, settings.course_language), "/quiz", settings)  # RemoteRunnable's quiz
    openapi.install(app)
    return app
