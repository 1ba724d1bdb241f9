"""POST /api/ingest: a folder under INGEST_ROOTS ingested by the server, which holds the Milvus Lite database
(the CLI sends its folder here while the server runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request

from core.checkpoints import state_errors, unavailable_detail
from core.settings import COURSE_DIR, PROJECT_ROOT, Settings, inside
from core.store_errors import StoreError
from server import errors, metrics
from server.schemas import IngestRequest

if TYPE_CHECKING:
    from loaders.report import IngestReport


def unreadable(directory: Path, settings: Settings) -> str | None:
    """Why the server may not ingest this (resolved) folder, or None: it must lie under INGEST_ROOTS and hold
    none of the project's own files (only its course_materials/). Asks the file system nothing."""
    roots = [Path(r).expanduser().resolve() for r in settings.ingest_roots]
    if not any(inside(directory, root) for root in roots):
        return f"{directory} is outside the folders this server may read (INGEST_ROOTS)."
    own = inside(PROJECT_ROOT, directory) or inside(directory, PROJECT_ROOT)
    if own and not inside(directory, COURSE_DIR):
        return f"{directory} holds this server's own files; only {COURSE_DIR.name}/ is read."
    return None


async def ingest_locked(
    request: Request, settings: Settings, directory: Path, *, what: str, **options: Any
) -> IngestReport:
    """Ingest `directory` into the server's store, the caller holding `app.state.ingest_lock`; counted in
    INGEST_RUNS. A store or state database that is down, or a folder the file system can't read, is a 503
    (`what` names the folder in that message), never a 500."""
    from loaders.ingest import ingest_directory

    try:
        report = await asyncio.to_thread(
            ingest_directory, directory, settings=settings, store=request.app.state.store, **options
        )
    except StoreError as exc:
        metrics.INGEST_RUNS.labels("error").inc()
        raise HTTPException(503, str(exc)) from exc
    except state_errors() as exc:
        metrics.INGEST_RUNS.labels("error").inc()
        raise HTTPException(503, unavailable_detail(settings, exc, ingest=True)) from exc
    except OSError as exc:  # the folder gone or unreadable mid-ingest: the file system's, not a bug
        metrics.INGEST_RUNS.labels("error").inc()
        raise HTTPException(503, f"{what} can't be read: {exc.strerror or exc}") from exc
    metrics.INGEST_RUNS.labels("ok" if report.exit_code == 0 else "some_files_failed").inc()
    return report


def ingest_router(settings: Settings) -> APIRouter:
    """POST /api/ingest, one ingest at a time (`app.state.ingest_lock`)."""
    router = APIRouter()

    @router.post("/api/ingest", tags=["ingest"])
    async def ingest(body: IngestRequest, request: Request) -> dict[str, Any]:
        """Ingest a folder through the server, which holds the Milvus Lite database (used by the CLI)."""
        directory = Path(body.directory).resolve()  # lexical where the file system can't say (it never raises)
        # Where a path may lead is checked before the file system is asked anything about it: any folder
        # outside INGEST_ROOTS is the same 403, whether it exists or its name is too long to.
        refused = unreadable(directory, settings)
        if refused:
            raise HTTPException(403, refused)
        try:
            is_dir = directory.is_dir()
        except OSError as exc:  # a name too long for the file system, a loop of links
            raise errors.invalid(("body", "directory"), f"can't be read as a folder ({exc.strerror})") from exc
        if not is_dir:
            raise errors.invalid(("body", "directory"), f"{directory} is not a folder")
        async with request.app.state.ingest_lock:
            report = await ingest_locked(
                request, settings, directory, what="This folder", reset=body.reset, dry_run=body.dry_run
            )
        return report.to_dict()

    return router
