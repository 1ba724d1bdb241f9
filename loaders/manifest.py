"""Which files of which folder are in the store, and with what fingerprint.

It lets an unchanged file be skipped without parsing it, and a removed file be found. It lives in the
record manager's database (SQLite file, or PostgreSQL shared by replicas: an ingest through one replica
must know what another already ingested, or it would re-parse everything and miss removed files) and is
written only after the file's chunks and records are committed, so a crash at any point leaves at worst a
file that is processed again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Column, Delete, Engine, Float, Integer, MetaData, String, Table, delete, func, insert, select

from core.sql import advisory_lock

_metadata = MetaData()
# The same table the SQLite-only version created, so existing ingest records keep working.
ingested_files = Table(
    "ingested_files",
    _metadata,
    Column("namespace", String, primary_key=True),
    Column("root", String, nullable=False),
    Column("file_id", String, primary_key=True),
    Column("source", String, nullable=False),
    Column("fingerprint", String, nullable=False),
    Column("chunks", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)


@dataclass(frozen=True)
class FileEntry:
    """One ingested file: its id (absolute path), source (relative), content fingerprint and chunk count."""

    file_id: str
    source: str
    fingerprint: str
    chunks: int


class Manifest:
    """The ingested files of one record namespace, in the record manager's database."""

    def __init__(self, engine: Engine, namespace: str) -> None:
        self.engine = engine
        self.namespace = namespace
        with advisory_lock(engine, "ai-mentor:manifest-schema"):  # replicas may create it at the same moment
            _metadata.create_all(engine)

    def entries(self, root: str) -> dict[str, FileEntry]:
        """Files recorded under this folder, by file id."""
        t = ingested_files.c
        query = select(t.file_id, t.source, t.fingerprint, t.chunks).where(
            t.namespace == self.namespace, t.root == root
        )
        with self.engine.connect() as conn:
            return {row[0]: FileEntry(*row) for row in conn.execute(query)}

    def locate(self, source: str) -> list[tuple[str, FileEntry]]:
        """(root, entry) of each ingested file with this relative path, newest first (the web page opens it)."""
        t = ingested_files.c
        query = (
            select(t.root, t.file_id, t.source, t.fingerprint, t.chunks)
            .where(t.namespace == self.namespace, t.source == source)
            .order_by(t.updated_at.desc())
        )
        with self.engine.connect() as conn:
            return [(row[0], FileEntry(*row[1:])) for row in conn.execute(query)]

    def sources(self) -> set[str]:
        """The relative paths of every file recorded in this namespace."""
        t = ingested_files.c
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(select(t.source).where(t.namespace == self.namespace))}

    def total_entries(self) -> int:
        """Files recorded in this namespace, under any folder."""
        query = select(func.count()).select_from(ingested_files).where(ingested_files.c.namespace == self.namespace)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def record(self, root: str, entry: FileEntry) -> None:
        """Mark a file ingested, after its chunks and records are committed (delete + insert in one transaction:
        portable across SQLite and PostgreSQL)."""
        with self.engine.begin() as conn:
            conn.execute(self._of(entry.file_id))
            conn.execute(
                insert(ingested_files).values(
                    namespace=self.namespace,
                    root=root,
                    file_id=entry.file_id,
                    source=entry.source,
                    fingerprint=entry.fingerprint,
                    chunks=entry.chunks,
                    updated_at=time.time(),
                )
            )

    def forget(self, file_id: str) -> None:
        """Drop a file that left its folder."""
        with self.engine.begin() as conn:
            conn.execute(self._of(file_id))

    def clear(self) -> None:
        """Forget every file of this namespace (with --reset)."""
        with self.engine.begin() as conn:
            conn.execute(delete(ingested_files).where(ingested_files.c.namespace == self.namespace))

    def _of(self, file_id: str) -> Delete:
        t = ingested_files.c
        return delete(ingested_files).where(t.namespace == self.namespace, t.file_id == file_id)
