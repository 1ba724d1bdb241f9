"""Which files of which folder are in the store, and with what fingerprint.

It lets an unchanged file be skipped without parsing it, and a removed file be found. It lives in the
record manager's SQLite file and is written only after the file's chunks and records are committed,
so a crash at any point leaves at worst a file that is processed again.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileEntry:
    """One ingested file: its fingerprint and how many chunks it produced."""

    file_id: str
    source: str
    fingerprint: str
    chunks: int


class Manifest:
    """The ingested files of one record namespace, in the record manager's SQLite file."""

    def __init__(self, db_path: Path, namespace: str) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self.namespace = namespace
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ingested_files ("
                " namespace TEXT NOT NULL, root TEXT NOT NULL, file_id TEXT NOT NULL,"
                " source TEXT NOT NULL, fingerprint TEXT NOT NULL, chunks INTEGER NOT NULL,"
                " updated_at REAL NOT NULL, PRIMARY KEY (namespace, file_id))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30)

    def entries(self, root: str) -> dict[str, FileEntry]:
        """Files recorded under this folder, by file id."""
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT file_id, source, fingerprint, chunks FROM ingested_files WHERE namespace = ? AND root = ?",
                (self.namespace, root),
            ).fetchall()
        return {row[0]: FileEntry(*row) for row in rows}

    def total_entries(self) -> int:
        """Files recorded in this namespace, under any folder."""
        with closing(self._connect()) as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM ingested_files WHERE namespace = ?", (self.namespace,)
            ).fetchone()
        return int(count)

    def record(self, root: str, entry: FileEntry) -> None:
        """Mark a file ingested; called only after its chunks and records are committed."""
        with closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT OR REPLACE INTO ingested_files VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    self.namespace,
                    root,
                    entry.file_id,
                    entry.source,
                    entry.fingerprint,
                    entry.chunks,
                    time.time(),
                ),
            )

    def forget(self, file_id: str) -> None:
        """Drop a file that left its folder."""
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM ingested_files WHERE namespace = ? AND file_id = ?", (self.namespace, file_id))

    def clear(self) -> None:
        """Forget every file of this namespace (with --reset)."""
        with closing(self._connect()) as conn, conn:
            conn.execute("DELETE FROM ingested_files WHERE namespace = ?", (self.namespace,))
