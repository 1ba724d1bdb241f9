"""The web pages: the student chat (/chat), the instructor's summary (/instructor), and the routes they use.

Pages and assets ship in server/static and server/templates (package data); nothing is fetched from
elsewhere. The pages hold no data: the API calls they make need MENTOR_API_KEY (or INSTRUCTOR_API_KEY)
when set, and a Content-Security-Policy allows no script but the page's own files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core import factories
from core.secret import derived_key
from core.settings import Settings
from core.sources import make_source
from loaders.parsers import ParseError
from server.conversations import issue_conversation_id
from server.files import BROWSER_NATIVE, SourceFiles
from server.interactions import InteractionLog
from server.render import highlight_css, render_answer, render_document
from server.runnables import MentorRunnable
from server.schemas import ClosestRequest, FeedbackRequest, NewConversation, RenderRequest
from server.security import Keys, presented_key

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# No inline script or style, no other origin: an injected <script> or onerror= handler cannot run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# A course file shown as a page runs no script at all, whatever the file held.
DOCUMENT_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
CLOSEST_K = 3
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    """A page or static file, read once, with its type and ETag."""

    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


PAGES = ("chat.html", "instructor.html")


def load_assets(settings: Settings, templates: Environment) -> dict[str, Asset]:
    """The pages and every file they load, made once: a request can only name one of these, never a path."""
    assets = {
        p.name: _asset(p.read_bytes(), ASSET_TYPES[p.suffix]) for p in STATIC.iterdir() if p.suffix in ASSET_TYPES
    }
    for page in PAGES:
        assets[page] = _asset(templates.get_template(page).render().encode(), ASSET_TYPES[".html"])
    assets["highlight.css"] = _asset(highlight_css().encode(), ASSET_TYPES[".css"])
    # Whether a page must ask for a key before its first call (rather than learn it from a 401).
    keys = Keys(settings)
    needs = {"key": bool(settings.mentor_api_key), "instructor_key": keys.any}
    assets["config.json"] = _asset(json.dumps(needs).encode(), "application/json")
    return assets


def _send(asset: Asset, request: Request, headers: dict[str, str]) -> Response:
    common = {**COMMON_HEADERS, **headers, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=common)
    return Response(asset.body, media_type=asset.media_type, headers=common)


def closest_sources(question: str, module: str = "") -> list[dict]:
    """The notes nearest to a question, however weak: what a refusal shows when nothing passed the floor."""
    hits = factories.shared_store().search(question, CLOSEST_K, module=module or None, floor=-1.0)
    return [dict(make_source(n, h.text, h.metadata, h.cosine)) for n, h in enumerate(hits, start=1)]


def web_router(settings: Settings, mentor: MentorRunnable) -> APIRouter:
    """The pages and their routes; its lifespan runs the interaction log and tells the runnable to feed it."""
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    assets = load_assets(settings, templates)
    files = SourceFiles(settings)
    keys = Keys(settings)
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
            mentor.on_answer = interactions.record
        app.state.interactions = interactions
        try:
            yield
        finally:
            mentor.on_answer = None
            if interactions is not None:
                await asyncio.to_thread(interactions.close)

    router = APIRouter(lifespan=lifespan)

    def log() -> InteractionLog:
        if interactions is None:
            raise HTTPException(503, "The interaction log is off (INTERACTIONS_ENABLED=false).")
        return interactions

    # ---- pages and assets ---------------------------------------------------------------------
    @router.get("/chat", include_in_schema=False)
    async def chat_page(request: Request) -> Response:
        return _send(assets["chat.html"], request, {"Content-Security-Policy": PAGE_CSP})

    @router.get("/instructor", include_in_schema=False)
    async def instructor_page(request: Request) -> Response:
        return _send(assets["instructor.html"], request, {"Content-Security-Policy": PAGE_CSP})

    @router.get("/favicon.ico", include_in_schema=False)
    async def favicon(request: Request) -> Response:  # asked for by every tab, a PDF viewer's too
        return _send(assets["favicon.svg"], request, {})

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str, request: Request) -> Response:
        asset = assets.get(name)
        if asset is None or name in PAGES:
            raise HTTPException(404, f"No asset {name!r}.")
        return _send(asset, request, {})

    # ---- the student page's API ---------------------------------------------------------------
    @router.post("/api/conversations", status_code=201, tags=["web"])
    async def new_conversation(body: NewConversation) -> dict:
        """A new conversation id, issued by the server (128 random bits, signed): only ids it issued open a
        conversation, so no one can guess or choose another student's."""
        return {"conversation_id": issue_conversation_id(settings)}

    @router.get("/api/modules", tags=["web"])
    async def modules() -> dict:
        """The course's modules (first folder level of the ingested files), for the module picker."""
        return {"modules": await asyncio.to_thread(files.modules)}

    @router.post("/api/render", tags=["web"])
    async def render(body: RenderRequest) -> dict:
        """An answer's Markdown as sanitised HTML, its citations [n] linked to the originals of its sources."""
        links = {s.n: files.href(s.model_dump()) for s in body.sources}
        html = await asyncio.to_thread(render_answer, body.answer, links)
        return {"html": html, "links": [{"n": n, "href": href} for n, href in links.items()]}

    @router.post("/api/closest", tags=["web"])
    async def closest(body: ClosestRequest) -> dict:
        """The nearest notes to a question, below the relevance floor too (a refusal names them)."""
        try:
            return {"sources": await asyncio.to_thread(closest_sources, body.question, body.module or "")}
        except ValueError as exc:  # an invalid module name
            raise HTTPException(422, str(exc)) from exc

    @router.post("/api/feedback", status_code=202, tags=["web"])
    async def feedback(body: FeedbackRequest) -> dict:
        """Thumbs up (1) or down (-1) on an answer, by its answer_id, with an optional comment."""
        if not await asyncio.to_thread(log().add_feedback, body.answer_id, body.rating, body.comment.strip()):
            raise HTTPException(404, "No recorded answer has this answer_id.")
        return {"status": "recorded"}

    @router.get("/files/{source:path}", tags=["web"], response_model=None)
    async def course_file(source: str, request: Request, exp: int = 0, sig: str = "") -> Response:
        """An ingested file, opened where a citation points: PDFs as they are (#page=N), others as a page."""
        refused = keys.refusal("student", presented_key(request.scope["headers"]))
        if refused and not files.signed(source, exp, sig):
            raise HTTPException(401, "Missing or invalid API key, or a link signature that is wrong or expired.")
        path = await asyncio.to_thread(files.resolve, source)
        if path is None:
            raise HTTPException(404, f"No ingested file {source!r}.")
        if path.suffix.lower() in BROWSER_NATIVE:
            return FileResponse(path, headers=COMMON_HEADERS, content_disposition_type="inline", filename=path.name)
        try:
            view = await asyncio.to_thread(render_document, path)
        except (ParseError, OSError) as exc:
            raise HTTPException(404, f"{source!r} can no longer be read: {exc}") from exc
        page = templates.get_template("document.html").render(title=view.title, source=source, body=view.body)
        return HTMLResponse(page, headers={**COMMON_HEADERS, "Content-Security-Policy": DOCUMENT_CSP})

    # ---- the instructor page's API (the instructor's key: server/security.py) -------------------
    @router.get("/api/instructor/summary", tags=["instructor"])
    async def summary(days: int = Query(30, ge=1, le=3660)) -> dict:
        """Questions per day, unanswered questions with their closest sources, most cited sources, rates."""
        return await asyncio.to_thread(log().summary, days)

    @router.get("/api/instructor/export.csv", tags=["instructor"])
    async def export(days: int = Query(0, ge=0, le=3660)) -> Response:
        """Every recorded interaction (of the last `days` days; 0 = all) as CSV."""
        text = await asyncio.to_thread(log().export_csv, days)
        name = f"ai-mentor-interactions-{datetime.now(timezone.utc):%Y%m%d}.csv"
        return Response(
            text,
            media_type="text/csv; charset=utf-8",
            headers={**COMMON_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'},
        )

    return router
