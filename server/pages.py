"""The web pages: the student chat (/chat) and the instructor's summary (/instructor), and the files they load.

Pages and assets ship in server/static and server/templates (package data); nothing is fetched from
elsewhere. The pages hold no data: the API calls they make need MENTOR_API_KEY (or INSTRUCTOR_API_KEY)
when set, and a Content-Security-Policy allows no script but the page's own files.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core.settings import Settings
from server.security import Keys
from views.files import LINES_CSS
from views.render import highlight_css

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# No inline script or style, no other origin: an injected <script> or onerror= handler cannot run.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
}
PAGES = ("chat.html", "instructor.html")


def templates() -> Environment:
    """The pages' and the course-file view's Jinja templates (server/templates), HTML escaped."""
    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class Asset:
    """A page or static file, read once, with its type and ETag."""

    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> Asset:
    return Asset(body, media_type, '"' + hashlib.sha256(body).hexdigest()[:20] + '"')


def load_assets(settings: Settings, pages: Environment) -> dict[str, Asset]:
    """The pages and every file they load, made once: a request can only name one of these, never a path."""
    assets = {
        p.name: _asset(p.read_bytes(), ASSET_TYPES[p.suffix]) for p in STATIC.iterdir() if p.suffix in ASSET_TYPES
    }
    for page in PAGES:
        assets[page] = _asset(pages.get_template(page).render().encode(), ASSET_TYPES[".html"])
    assets["highlight.css"] = _asset((highlight_css() + LINES_CSS).encode(), ASSET_TYPES[".css"])
    # Whether a page must ask for a key before its first call (rather than learn it from a 401).
    needs = {"key": bool(settings.mentor_api_key), "instructor_key": Keys(settings).any}
    assets["config.json"] = _asset(json.dumps(needs).encode(), "application/json")
    return assets


def _send(asset: Asset, request: Request, headers: dict[str, str]) -> Response:
    common = {**COMMON_HEADERS, **headers, "ETag": asset.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=common)
    return Response(asset.body, media_type=asset.media_type, headers=common)


def pages_router(settings: Settings) -> APIRouter:
    """The two pages, the favicon and /static/{name}, each answered from memory with an ETag."""
    assets = load_assets(settings, templates())
    router = APIRouter()

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

    return router
