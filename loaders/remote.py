"""Ask the running API server to ingest, when it holds the Milvus Lite database (one process per file)."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.settings import Settings
from loaders.report import FileResult, IngestReport


class RemoteIngestError(RuntimeError):
    """The running API server could not be reached or refused the ingest."""


def auth_headers(settings: Settings) -> dict[str, str]:
    """The highest key this machine's settings hold: ingesting needs the operator's (ADMIN_API_KEY, else the
    instructor's); a student's key gets a 403 that says so."""
    key = settings.admin_api_key or settings.instructor_api_key or settings.mentor_api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


def ingest_via_server(settings: Settings, directory: Path, *, reset: bool, dry_run: bool) -> IngestReport:
    """Ingest through POST /api/ingest, so the running tutor answers from the new material at once."""
    url = f"{settings.api_url}/api/ingest"
    payload = {"directory": str(directory.resolve()), "reset": reset, "dry_run": dry_run}
    try:
        response = httpx.post(url, json=payload, headers=auth_headers(settings), timeout=3600)
    except httpx.HTTPError as exc:
        raise RemoteIngestError(
            f"The database is held by another process, and the API server at {settings.api_url} "
            f"did not answer ({exc}). Stop the other process, or start the server."
        ) from exc
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise RemoteIngestError(f"The server refused the ingest ({response.status_code}): {detail}")
    data = response.json()
    report = IngestReport(
        directory=data["directory"],
        collection=data["collection"],
        chunks_written=data["chunks_written"],
        chunks_deleted=data["chunks_deleted"],
        seconds=data["seconds"],
        dry_run=data["dry_run"],
    )
    report.files = [FileResult(**f) for f in data["files"]]
    return report
