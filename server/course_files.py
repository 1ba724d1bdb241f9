"""The course's files as the pages show them: its modules, an answer rendered with its citations linked, and
the cited file itself (/files/{source}), opened where the citation points.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from classroom.answers import FILE_PREFIX
from core.settings import Settings
from loaders.parsers import ParseError
from server.pages import COMMON_HEADERS, templates
from server.schemas import RenderRequest
from server.security import Keys, presented_key
from views.files import BROWSER_NATIVE, SourceFiles, cited_lines, lined_document, shows_lines
from views.render import render_answer, render_document

# A course file shown as a page runs no script at all, whatever the file held.
DOCUMENT_CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"


def course_files_router(settings: Settings) -> APIRouter:
    """/api/modules, /api/render and /files/{source}: the ingest records say which files exist."""
    files = SourceFiles(settings)
    keys = Keys(settings)
    document = templates().get_template("document.html")
    router = APIRouter()

    @router.get("/api/modules", tags=["web"])
    async def modules() -> dict[str, Any]:
        """The course's modules (first folder level of the ingested files), for the module picker."""
        return {"modules": await asyncio.to_thread(files.modules)}

    @router.post("/api/render", tags=["web"])
    async def render(body: RenderRequest) -> dict[str, Any]:
        """An answer's Markdown as sanitised HTML, its citations [n] linked to the originals of its sources."""
        links = {s.n: files.href(s.model_dump()) for s in body.sources}
        html = await asyncio.to_thread(render_answer, body.answer, links)
        return {"html": html, "links": [{"n": n, "href": href} for n, href in links.items()]}

    @router.get("/files/{source:path}", tags=["web"], response_model=None)
    async def course_file(source: str, request: Request, exp: int = 0, sig: str = "", lines: str = "") -> Response:
        """An ingested file, opened where a citation points: PDFs as they are (#page=N), others as a page; text,
        code (and Markdown cited by `lines=12-20`) as numbered lines `#L12`, the cited ones marked."""
        refused = keys.refusal("student", presented_key(request.scope["headers"]))
        if refused and not files.signed(source, exp, sig):
            raise HTTPException(401, "Missing or invalid API key, or a link signature that is wrong or expired.")
        path = await asyncio.to_thread(files.resolve, source)
        if path is None:
            raise HTTPException(404, f"No ingested file {source!r}.")
        if path.suffix.lower() in BROWSER_NATIVE:
            return FileResponse(path, headers=COMMON_HEADERS, content_disposition_type="inline", filename=path.name)
        cited = cited_lines(lines)
        try:
            if shows_lines(path, cited):
                view = await asyncio.to_thread(lined_document, path, cited)
            else:
                view = await asyncio.to_thread(render_document, path)
                if PurePath(source).name.startswith(FILE_PREFIX):  # its "See also" link opens in this tab too
                    view = replace(view, body=files.signed_links(view.body))
        except (ParseError, OSError) as exc:
            raise HTTPException(404, f"{source!r} can no longer be read: {exc}") from exc
        page = document.render(title=view.title, source=source, body=view.body)
        return HTMLResponse(page, headers={**COMMON_HEADERS, "Content-Security-Policy": DOCUMENT_CSP})

    return router
