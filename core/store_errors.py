"""What callers need from the store without importing pymilvus (seconds): its errors and Milvus Lite's lock.

The loader CLI checks the lock first, so delegating an ingest to the running server imports neither
pymilvus nor the embedding stack (measured: the delegation took 21 s end to end, 0.6 s of it the ingest).
"""

from __future__ import annotations

import fcntl
from pathlib import Path


class StoreError(RuntimeError):
    """The vector store cannot be used; the message says what the user should do."""


class EmbedderMismatchError(StoreError):
    """The collection's vectors were made by another embedding model or backend than this process's."""


class DatabaseLockedError(StoreError):
    """Another process (usually the API server) holds the Milvus Lite database."""


def lite_db_locked(db_path: Path) -> bool:
    """Milvus Lite allows one process per database; it flocks <db>/LOCK. Probe without keeping it."""
    lock = db_path / "LOCK"
    if not lock.exists():
        return False
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False
