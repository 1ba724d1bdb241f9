"""Status routes: what this server is (/), whether it can answer (/health), and what it holds (/api/chat/stats)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse

from core import factories
from core.settings import Settings
from server.security import wants_page

ENDPOINTS = {
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
}


async def probe_llm(base_url: str, connect_timeout: float, read_timeout: float = 3.0) -> dict[str, Any]:
    """The LLM server's state for /health: ok, busy (connected, no reply in time) or the error's name.

    llama-cpp-python's server answers nothing else while it writes an answer (seen as a 503 from /health under
    the fuzz test's load); busy is not down, and a dead server refuses the connection instead."""
    llm: dict[str, Any] = {"url": base_url}
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(read_timeout, connect=connect_timeout)) as client:
            response = await client.get(base_url.rstrip("/") + "/models")
        llm["ok"] = response.status_code == 200
    except httpx.ReadTimeout:
        llm.update(ok=True, busy=True)
    except httpx.HTTPError as exc:
        llm.update(ok=False, error=type(exc).__name__)
    return llm


def status_router(settings: Settings) -> APIRouter:
    """/, /health and /api/chat/stats."""
    router = APIRouter()

    @router.get("/", tags=["status"], response_model=None)
    async def status(request: Request) -> dict[str, Any] | RedirectResponse:
        if wants_page(request.headers.get("accept", "")):  # a browser: the chat page; API clients: JSON
            return RedirectResponse("/chat", status_code=307)
        return {
            "name": "AI Mentor",
            "status": "running",
            "collection": settings.milvus_collection_name,
            "endpoints": ENDPOINTS,
        }

    @router.get("/health", tags=["status"])
    async def health(request: Request) -> JSONResponse:
        llm = await probe_llm(settings.llm_base_url, settings.llm_connect_timeout)
        database: dict[str, Any] = {"collection": settings.milvus_collection_name}
        try:
            database.update(ok=True, chunks=await asyncio.to_thread(request.app.state.store.count))
        except Exception as exc:  # any store failure is reported, not raised
            database.update(ok=False, error=str(exc))
        healthy = llm["ok"] and database["ok"]
        body = {"status": "ok" if healthy else "degraded", "llm": llm, "database": database}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/api/chat/stats", tags=["chat"])
    async def stats(request: Request) -> dict[str, Any]:
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

    return router
