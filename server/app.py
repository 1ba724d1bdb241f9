"""The API: LangServe at /mentor, the original app's /api routes, status and health."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from langchain_core.runnables import Runnable
from langserve import APIHandler, add_routes
from sse_starlette.sse import EventSourceResponse

from core import factories
from core.settings import COURSE_DIR, PROJECT_ROOT, Settings, get_settings, inside
from core.store import DatabaseLockedError, StoreError
from graph.graph import create_graph
from server import errors, metrics, openapi
from server.body import BodyGuard, require_json
from server.checkpoints import open_checkpointer, state_errors, unavailable_detail
from server.runnables import ChatMentorRunnable, MentorRunnable
from server.schemas import ChatRequest, ChatResponse, IngestRequest, SourceItem
from server.security import RoleMiddleware, redact_access_log, wants_page
from server.validation import check_configurable, check_langserve_body
from server.web import web_router

log = logging.getLogger("ai_mentor.server")

INGEST_HINT = "No course materials are ingested yet. Run: python -m loaders --directory course_materials/"


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


async def probe_llm(base_url: str, connect_timeout: float, read_timeout: float = 3.0) -> dict:
    """The LLM server's state for /health: ok, busy (connected, no reply in time) or the error's name.

    llama-cpp-python's server answers nothing else while it writes an answer (seen as a 503 from /health under
    the fuzz test's load); busy is not down, and a dead server refuses the connection instead."""
    llm: dict = {"url": base_url}
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(read_timeout, connect=connect_timeout)) as client:
            response = await client.get(base_url.rstrip("/") + "/models")
        llm["ok"] = response.status_code == 200
    except httpx.ReadTimeout:
        llm.update(ok=True, busy=True)
    except httpx.HTTPError as exc:
        llm.update(ok=False, error=type(exc).__name__)
    return llm


def create_app(settings: Settings | None = None) -> FastAPI:
    """The FastAPI app; the store, embeddings and conversation checkpointer open in its lifespan."""
    settings = settings or get_settings()
    mentor = MentorRunnable()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

    @app.get("/", tags=["status"], response_model=None)
    async def status(request: Request) -> dict | RedirectResponse:
        if wants_page(request.headers.get("accept", "")):  # a browser: the chat page; API clients: JSON
            return RedirectResponse("/chat", status_code=307)
        return {
            "name": "AI Mentor",
            "status": "running",
            "collection": settings.milvus_collection_name,
            "endpoints": {
                "chat": "/api/chat",
                "chat_stream": "/api/chat/stream",
                "chat_page": "/chat",
                "instructor_page": "/instructor",
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
        llm = await probe_llm(settings.llm_base_url, settings.llm_connect_timeout)
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

    @app.post("/api/chat", response_model=ChatResponse, tags=["chat"])
    async def chat(body: ChatRequest, request: Request) -> ChatResponse:
        await _require_materials(request)
        out = await mentor.ainvoke(
            {"question": body.message, "conversation_id": body.conversation_id, "module": body.module}
        )
        return ChatResponse(
            response=out["answer"],
            sources=[SourceItem.of(s) for s in out["sources"]],
            conversation_id=out["conversation_id"],
            grounded=out["grounded"],
            route=out["route"],
            support=out.get("support", []),
            verified=out.get("verified"),
            answer_id=out["answer_id"],
        )

    @app.post("/api/chat/stream", tags=["chat"])
    async def chat_stream(body: ChatRequest, request: Request) -> EventSourceResponse:
        """Server-sent events: `token` events while the answer is written, then one `final` event; a failure
        ends the stream with an `error` event {"status", "detail"}."""
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
            except Exception as exc:
                status, detail = errors.error_payload(exc, settings, request.url.path)
                yield {"event": "error", "data": json.dumps({"status": status, "detail": detail})}

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
            "embedding_model": factories.embedding_model_name(settings),
            "llm": {"endpoint": settings.llm_base_url, "model": settings.llm_model_name},
        }

    @app.post("/api/ingest", tags=["ingest"])
    async def ingest(body: IngestRequest, request: Request) -> dict:
        """Ingest a folder through the server, which holds the Milvus Lite database (used by the CLI)."""
        from loaders.ingest import ingest_directory

        directory = Path(body.directory).resolve()  # lexical where the file system can't say (it never raises)
        roots = [Path(r).expanduser().resolve() for r in settings.ingest_roots]
        # Where a path may lead is checked before the file system is asked anything about it: any folder
        # outside INGEST_ROOTS is the same 403, whether it exists or its name is too long to.
        if not any(inside(directory, root) for root in roots):
            raise HTTPException(403, f"{directory} is outside the folders this server may read (INGEST_ROOTS).")
        own = inside(PROJECT_ROOT, directory) or inside(directory, PROJECT_ROOT)
        if own and not inside(directory, COURSE_DIR):
            raise HTTPException(403, f"{directory} holds this server's own files; only {COURSE_DIR.name}/ is read.")
        try:
            is_dir = directory.is_dir()
        except OSError as exc:  # a name too long for the file system, a loop of links
            raise errors.invalid(("body", "directory"), f"can't be read as a folder ({exc.strerror})") from exc
        if not is_dir:
            raise errors.invalid(("body", "directory"), f"{directory} is not a folder")
        async with request.app.state.ingest_lock:
            try:
                report = await asyncio.to_thread(
                    ingest_directory,
                    directory,
                    settings=settings,
                    store=request.app.state.store,
                    reset=body.reset,
                    dry_run=body.dry_run,
                )
            except StoreError as exc:
                metrics.INGEST_RUNS.labels("error").inc()
                raise HTTPException(503, str(exc)) from exc
            except state_errors() as exc:
                metrics.INGEST_RUNS.labels("error").inc()
                raise HTTPException(503, unavailable_detail(settings, exc, ingest=True)) from exc
        metrics.INGEST_RUNS.labels("ok" if report.exit_code == 0 else "some_files_failed").inc()
        return report.to_dict()

    app.include_router(web_router(settings, mentor))
    serve(app, mentor, "/mentor", settings)
    # {"messages": [...]} → answer text with its sources listed: LangServe's chat playground needs this shape.
    serve(app, ChatMentorRunnable(mentor), "/mentor/chat", settings, playground_type="chat")
    openapi.install(app)
    return app


def serve(app: FastAPI, runnable: Runnable, path: str, settings: Settings, **options: Any) -> None:
    """LangServe's routes, whose three stream endpoints are served first by ours: the same handler, with a
    failure's `error` event carrying the error policy's status instead of LangServe's fixed 500."""
    options["per_req_config_modifier"] = check_configurable  # config values that reach filters and storage
    handler = APIHandler(runnable, path=path, **options)
    checks = [Depends(check_langserve_body)]
    streams = {"stream": handler.stream, "stream_log": handler.stream_log, "stream_events": handler.astream_events}
    for name, method in streams.items():
        endpoint = _policy_stream(method, settings)
        app.post(f"{path}/{name}", include_in_schema=False, dependencies=checks)(endpoint)
        app.post(f"{path}/c/{{config_hash}}/{name}", include_in_schema=False, dependencies=checks)(endpoint)
    # token_feedback answers only with LangSmith and a token_feedback_config, neither of which this server has:
    # mounted, it was a route whose every call is a 400. Answer feedback goes to POST /api/feedback. (LangServe
    # knows the name, KNOWN_ENDPOINTS, but left it out of its EndpointName type.)
    off: Any = ["token_feedback"]
    add_routes(app, runnable, path=path, dependencies=checks, disabled_endpoints=off, **options)


def _policy_stream(method: Callable[..., Awaitable[EventSourceResponse]], settings: Settings) -> Callable:
    async def endpoint(request: Request, config_hash: str = "") -> EventSourceResponse:
        response = await method(request, config_hash=config_hash)
        response.body_iterator = errors.langserve_stream_errors(response.body_iterator, settings, request.url.path)
        return response

    return endpoint
