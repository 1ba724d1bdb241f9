"""Back up and restore a Milvus Lite database with its ingest records, as one .tar.gz archive.

A restore brings back what the archive says was ingested, so it is held to the rule every ingest path keeps
(core.settings.inside): the archive may hold only the database's regular files and folders and the records
file (no link, device or other name), and every recorded file must lie inside the folder it was ingested
from. An archive that breaks it (made by an older loader that followed a symlink out, or crafted) is refused
before anything is replaced; `verify` then checks the database itself, still aside, before the swap.
"""

from __future__ import annotations

import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from core.settings import Settings, inside
from core.store_errors import StoreError, lite_db_locked

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


def _check_members(archive: Path, tar: tarfile.TarFile) -> None:
    names = set(tar.getnames())
    if DB_MEMBER not in names:
        raise StoreError(f"{archive} is not an AI Mentor backup (no {DB_MEMBER}/)")
    for member in tar.getmembers():
        expected = member.name in (DB_MEMBER, RECORDS_MEMBER) or member.name.startswith(DB_MEMBER + "/")
        if not expected or ".." in Path(member.name).parts or not (member.isfile() or member.isdir()):
            raise StoreError(f"{archive} holds {member.name!r}, which no backup holds (only regular files): refused")


def recorded_files(records: Path) -> list[tuple[str, str]]:
    """(folder, file) of every file an ingest records database lists, whatever its collection."""
    if not records.exists():
        return []
    with closing(sqlite3.connect(f"file:{records}?mode=ro", uri=True)) as conn:
        try:
            return [(str(r), str(f)) for r, f in conn.execute("SELECT root, file_id FROM ingested_files")]
        except sqlite3.OperationalError:  # no ingest recorded yet
            return []


def _check_confined(archive: Path, records: Path) -> None:
    outside = [file_id for root, file_id in recorded_files(records) if not inside(file_id, root)]
    if outside:
        raise StoreError(
            f"{archive} holds {len(outside)} file(s) from outside the folder they were ingested from "
            f"(e.g. {outside[0]}): refused. Re-ingest the folder instead."
        )


def restore(settings: Settings, archive: Path, verify: Callable[[Path, list[str]], None] | None = None) -> Path:
    """Unpack next to the live database, check it, then swap: a bad archive never destroys the current data.

    `verify(database, recorded_file_ids)` may refuse (raise StoreError) with the restored database still aside."""
    db = _check_local(settings)
    if not archive.is_file():
        raise StoreError(f"{archive} is not a file")
    with tempfile.TemporaryDirectory(dir=db.parent if db.parent.exists() else None) as tmp:
        with tarfile.open(archive, "r:gz") as tar:
            _check_members(archive, tar)
            tar.extractall(tmp, filter="data")
        _check_confined(archive, Path(tmp) / RECORDS_MEMBER)
        if verify is not None:
            verify(Path(tmp) / DB_MEMBER, [file_id for _, file_id in recorded_files(Path(tmp) / RECORDS_MEMBER)])
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
