"""Back up and restore a Milvus Lite database with its ingest records, as one .tar.gz archive."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from core.settings import Settings
from core.store import StoreError, lite_db_locked

DB_MEMBER = "milvus.db"
RECORDS_MEMBER = "ingest_records.sqlite"


def _check_local(settings: Settings) -> Path:
    if not settings.milvus_is_local:
        raise StoreError("backup/restore work on a Milvus Lite file; use Milvus' own backup tool for a server.")
    if settings.record_manager_url:
        raise StoreError(
            "backup/restore keep the ingest records in the archive, as a SQLite file: with RECORD_MANAGER_URL set, "
            "back up that database with its own tools (pg_dump) together with the Milvus Lite file."
        )
    db = Path(settings.milvus_connection_uri)
    if lite_db_locked(db):
        raise StoreError(f"{db} is in use (is the API server running?). Run './startup.sh stop' first.")
    return db


def backup(settings: Settings, archive: Path) -> Path:
    """Archive the Milvus Lite database with its ingest records: a database restored without them would be re-
    embedded."""
    db = _check_local(settings)
    if not db.exists():
        raise StoreError(f"Nothing to back up: {db} does not exist. Ingest first.")
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(db, arcname=DB_MEMBER, filter=lambda info: None if info.name.endswith("/LOCK") else info)
        if settings.record_manager_path.exists():
            tar.add(settings.record_manager_path, arcname=RECORDS_MEMBER)
    return archive


def restore(settings: Settings, archive: Path) -> Path:
    """Unpack next to the live database, then swap: a bad archive never destroys the current data."""
    db = _check_local(settings)
    if not archive.is_file():
        raise StoreError(f"{archive} is not a file")
    with tempfile.TemporaryDirectory(dir=db.parent if db.parent.exists() else None) as tmp:
        with tarfile.open(archive, "r:gz") as tar:
            names = set(tar.getnames())
            if DB_MEMBER not in names:
                raise StoreError(f"{archive} is not an AI Mentor backup (no {DB_MEMBER}/)")
            tar.extractall(tmp, filter="data")
        db.parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        if db.exists():
            db.rename(db.with_name(f"{db.name}.before-restore-{stamp}"))
        shutil.move(str(Path(tmp) / DB_MEMBER), db)
        records = Path(tmp) / RECORDS_MEMBER
        if records.exists():
            if settings.record_manager_path.exists():
                settings.record_manager_path.rename(
                    settings.record_manager_path.with_name(
                        f"{settings.record_manager_path.name}.before-restore-{stamp}"
                    )
                )
            shutil.move(str(records), settings.record_manager_path)
    return db
