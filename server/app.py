"""The API: LangServe at /mentor, the original app's /api routes, status and health."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import openai
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from langserve import add_routes
from sse_starlette.sse import EventSourceResponse

from core import factories
from core.settings import Settings, get_settings
from core.store import DatabaseLockedError, StoreError
from graph.graph import create_graph
from server import metrics
from server.checkpoints import open_checkpointer, state_errors, unavailable_detail
from server.runnables import ChatMentorRunnable, MentorRunnable
from server.schemas import ChatRequest, ChatResponse, IngestRequest, SourceItem
from server.security import ApiKeyMiddleware

log = logging.getLogger("ai_mentor.server")

LLM_ERRORS = (openai.APIConnectionError, openai.APITimeoutError, openai.InternalServerError, httpx.HTTPError)
INGEST_HINT = "No course materials are ingested yet. Run: python -m loaders --directory course_materials/"


def _llm_unavailable(settings: Settings, exc: Exception) -> HTTPException:
    return HTTPException(
        503,
        f"The language model server at {settings.llm_base_url} is unavailable ({type(exc).__name__}). "
        "Start it with ./startup.sh; requests will work again as soon as it answers.",
    )


async def _open_store(settings: Settings, wait_seconds: float = 30.0):  # type: ignore[no-untyped-def]
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
    mentor = MentorRunnable()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = await _open_store(settings)
        await asyncio.to_thread(factories.get_embeddings, settings)
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
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    if settings.mentor_api_key:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.mentor_api_key)
    metrics.install(app)
    db_errors = state_errors()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_errors(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, LLM_ERRORS):
            return JSONResponse({"detail": _llm_unavailable(settings, exc).detail}, status_code=503)
        if isinstance(exc, db_errors):
            return JSONResponse({"detail": unavailable_detail(settings, exc)}, status_code=503)
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse({"detail": f"Internal error ({type(exc).__name__}); see the server log."}, 500)

    @app.middleware("http")
    async def _limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_message_chars * 4 + 4096:
            return JSONResponse({"detail": "Request body too large."}, status_code=413)
        return await call_next(request)

    @app.get("/", tags=["status"])
    async def status() -> dict:
        return {
            "name": "AI Mentor",
            "status": "running",
            "collection": settings.milvus_collection_name,
            "endpoints": {
                "chat": "/api/chat",
                "chat_stream": "/api/chat/stream",
                "stats": "/api/chat/stats",
                "langserve": "/mentor/invoke",
                "playground": "/mentor/playground/",
                "chat_playground": "/mentor/chat/playground/",
                "docs": "/docs",
                "health": "/health",
            },
        }

    @app.get("/health", tags=["status"])
    async def health(request: Request) -> JSONResponse:
        llm: dict = {"url": settings.llm_base_url}
        try:
            async with httpx.AsyncClient(timeout=httpx.Timeout(3.0, connect=settings.llm_connect_timeout)) as client:
                response = await client.get(settings.llm_base_url.rstrip("/") + "/models")
            llm["ok"] = response.status_code == 200
        except httpx.HTTPError as exc:
            llm.update(ok=False, error=type(exc).__name__)
        database: dict = {"collection": settings.milvus_collection_name}
        try:
            database.update(ok=True, chunks=await asyncio.to_thread(request.app.state.store.count))
        except Exception as exc:  # any store failure is reported, not raised
            database.update(ok=False, error=str(exc))
        healthy = llm["ok"] and database["ok"]
        body = {"status": "ok" if healthy else "degraded", "llm": llm, "database": database}
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def _require_materials(request: Request) -> None:
        if await asyncio.to_thread(request.app.state.store.count) == 0:
            raise HTTPException(503, INGEST_HINT)

    def _check_size(message: str) -> None:
        if len(message) > settings.max_message_chars:
            raise HTTPException(413, f"message is longer than {settings.max_message_chars} characters")

    @app.post("/api/chat", response_model=ChatResponse, tags=["chat"])
    async def chat(body: ChatRequest, request: Request) -> ChatResponse:
        _check_size(body.message)
        await _require_materials(request)
        try:
            out = await mentor.ainvoke(
                {"question": body.message, "conversation_id": body.conversation_id, "module": body.module}
            )
        except LLM_ERRORS as exc:
            raise _llm_unavailable(settings, exc) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        return ChatResponse(
            response=out["answer"],
            sources=[SourceItem.of(s) for s in out["sources"]],
            conversation_id=out["conversation_id"],
            grounded=out["grounded"],
            route=out["route"],
            support=out.get("support", []),
            verified=out.get("verified"),
        )

    @app.post("/api/chat/stream", tags=["chat"])
    async def chat_stream(body: ChatRequest, request: Request) -> EventSourceResponse:
        """Server-sent events: `token` events while the answer is written, then one `final` event."""
        _check_size(body.message)
        await _require_materials(request)

        async def events() -> AsyncIterator[dict]:
            payload = {
                "question": body.message,
                "conversation_id": body.conversation_id,
                "module": body.module,
            }
            try:
                async for chunk in mentor.astream(payload):
                    if "token" in chunk:
                        yield {"event": "token", "data": json.dumps(chunk["token"])}
                    else:
                        yield {"event": "final", "data": json.dumps(chunk)}
            except LLM_ERRORS as exc:
                yield {
                    "event": "error",
                    "data": json.dumps({"status": 503, "detail": _llm_unavailable(settings, exc).detail}),
                }
            except db_errors as exc:
                detail = unavailable_detail(settings, exc)
                yield {"event": "error", "data": json.dumps({"status": 503, "detail": detail})}

        return EventSourceResponse(events())

    @app.get("/api/chat/stats", tags=["chat"])
    async def stats(request: Request) -> dict:
        store = request.app.state.store
        per_source = await asyncio.to_thread(store.chunks_per_source)
        return {
            "collection": settings.milvus_collection_name,
            "chunk_count": sum(per_source.values()),
            "sources_count": len(per_source),
            "chunks_per_source": per_source,
            "retrieval_mode": store.effective_mode(),
            "milvus": {"uri": settings.milvus_uri, "version": store.server_version},
            "embedding_model": str(factories.embedding_model_path(settings).name) + " (all-MiniLM-L6-v2)"
            if not settings.embedding_model_path
            else settings.embedding_model_path,
            "llm": {"endpoint": settings.llm_base_url, "model": settings.llm_model_name},
        }

    @app.post("/api/ingest", tags=["ingest"])
    async def ingest(body: IngestRequest, request: Request) -> dict:
        """Ingest a folder through the server, which holds the Milvus Lite database (used by the CLI)."""
        from loaders.ingest import ingest_directory

        directory = Path(body.directory).expanduser().resolve()
        roots = [Path(r).expanduser().resolve() for r in settings.ingest_roots]
        if not any(directory == root or root in directory.parents for root in roots):
            raise HTTPException(403, f"{directory} is outside the folders this server may read (INGEST_ROOTS).")
        if not directory.is_dir():
            raise HTTPException(422, f"{directory} is not a folder")
        async with request.app.state.ingest_lock:
            try:
                report = await asyncio.to_thread(
                    ingest_directory,
                    directory,
                    settings=settings,
                    store=request.app.state.store,
                    reset=body.reset,
                    dry_run=body.dry_run,
                    confine=True,
                )
            except StoreError as exc:
                metrics.INGEST_RUNS.labels("error").inc()
                raise HTTPException(503, str(exc)) from exc
            except db_errors as exc:
                metrics.INGEST_RUNS.labels("error").inc()
                raise HTTPException(503, unavailable_detail(settings, exc, ingest=True)) from exc
        metrics.INGEST_RUNS.labels("ok" if report.exit_code == 0 else "some_files_failed").inc()
        return report.to_dict()

    add_routes(app, mentor, path="/mentor", enabled_endpoints=None)
    # {"messages": [...]} → answer text with its sources listed: LangServe's chat playground needs this shape.
    add_routes(app, ChatMentorRunnable(mentor), path="/mentor/chat", playground_type="chat")
    return app


def jsonable_errors(exc: RequestValidationError) -> list[dict]:
    """Validation errors without the offending input echoed back (it may be large, or a secret)."""
    return [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
