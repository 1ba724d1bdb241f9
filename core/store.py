"""The course store: one Milvus collection (Milvus Lite file or Milvus server) with dense + BM25 search."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
from pathlib import Path
from typing import Any, Literal

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from core.retrieval import Hit, apply_floor, fuse_hits
from core.settings import Settings


def _import_pymilvus() -> None:
    """pymilvus parses $MILVUS_URI at import time and rejects a file path, yet MILVUS_URI is also this
    app's (and the original app's) name for a Milvus Lite file: hide it from pymilvus while it loads."""
    value = os.environ.pop("MILVUS_URI", None)
    try:
        import pymilvus  # noqa: F401
    finally:
        if value is not None:
            os.environ["MILVUS_URI"] = value


_import_pymilvus()

from langchain_milvus import BM25BuiltInFunction, Milvus  # noqa: E402

log = logging.getLogger(__name__)

RetrievalMode = Literal["hybrid", "dense", "bm25"]
DENSE_FIELD = "dense"
SPARSE_FIELD = "sparse"
METADATA_FIELDS = [
    "source",
    "title",
    "headings",
    "module",
    "page",
    "slide",
    "cell",
    "anchor",
    "content_hash",
]
_MODULE_RE = re.compile(r"^[\w.\- ]{1,100}$")
# Milvus Lite databases this process has opened: its embedded server keeps the lock until exit, and a
# second client in the same process is fine, so only other processes' locks matter.
_OPENED_HERE: set[str] = set()

# Milvus Lite's embedded gRPC server logs a traceback for an RPC it doesn't implement (AllocTimestamp,
# used only to wait for index builds it finishes synchronously); it is noise, not an error.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


class StoreError(RuntimeError):
    """The vector store cannot be used; the message says what the user should do."""


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


def server_supports_bm25(version: str) -> bool:
    """Milvus gained the built-in BM25 function in 2.5; every Milvus Lite 2.5+/3.x has it."""
    if version.startswith("milvus_lite"):
        match = re.search(r"(\d+)\.(\d+)", version)
        return bool(match) and (int(match.group(1)), int(match.group(2))) >= (2, 5)
    match = re.search(r"(\d+)\.(\d+)", version)
    return bool(match) and (int(match.group(1)), int(match.group(2))) >= (2, 5)


class UpsertMilvus(Milvus):
    """Writes by id are upserts: a crash between the vector write and the record-manager write can then
    never leave two copies of a chunk (Milvus does not enforce primary-key uniqueness on insert)."""

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        ids = kwargs.pop("ids", None)
        if self.col is None or not ids:
            return super().add_documents(documents, ids=ids, **kwargs)
        self.upsert(ids=ids, documents=documents, **kwargs)
        return list(ids)


class CourseStore:
    """Opens (or creates on first write) the course collection and searches it."""

    def __init__(self, settings: Settings, embeddings: Embeddings) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.collection = settings.milvus_collection_name
        uri = settings.milvus_connection_uri
        if settings.milvus_is_local:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            if uri not in _OPENED_HERE and lite_db_locked(Path(uri)):
                raise DatabaseLockedError(
                    f"The Milvus Lite database {uri} is in use by another process "
                    "(usually the API server). Ingest through the server, or stop it first."
                )
        connection: dict[str, Any] = {"uri": uri}
        if settings.milvus_token:
            connection["token"] = settings.milvus_token
        try:
            from pymilvus import MilvusClient

            probe = MilvusClient(**connection)
            self.server_version = str(probe.get_server_version())
            exists = probe.has_collection(self.collection)
            has_sparse = exists and any(
                f.get("name") == SPARSE_FIELD for f in probe.describe_collection(self.collection).get("fields", [])
            )
        except Exception as exc:  # pymilvus raises several unrelated types for "cannot connect"
            raise StoreError(f"Cannot open Milvus at {uri}: {exc}") from exc
        self.bm25_available = server_supports_bm25(self.server_version) and (has_sparse or not exists)
        if not self.bm25_available and settings.retrieval_mode != "dense":
            log.warning(
                "Milvus %s at %s has no built-in BM25 (needs Milvus >= 2.5): falling back to dense retrieval.",
                self.server_version,
                uri,
            )
        self.client = probe
        if settings.milvus_is_local:
            _OPENED_HERE.add(uri)
        self.vs = self._open(connection, hybrid=self.bm25_available)

    def _open(self, connection: dict[str, Any], hybrid: bool) -> UpsertMilvus:
        dense_index = {"index_type": "FLAT", "metric_type": "COSINE", "params": {}}
        dense_search = {"metric_type": "COSINE", "params": {}}
        common: dict[str, Any] = {
            "embedding_function": self.embeddings,
            "collection_name": self.collection,
            "connection_args": connection,
            "auto_id": False,
            "enable_dynamic_field": True,
            "consistency_level": "Strong",
        }
        if hybrid:
            # Milvus Lite needs explicit BM25 index/search params: langchain-milvus' defaults
            # (drop_ratio_build) are rejected there.
            return UpsertMilvus(
                **common,
                builtin_function=BM25BuiltInFunction(output_field_names=SPARSE_FIELD),
                vector_field=[DENSE_FIELD, SPARSE_FIELD],
                index_params=[
                    dense_index,
                    {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {}},
                ],
                search_params=[dense_search, {"metric_type": "BM25", "params": {}}],
            )
        return UpsertMilvus(**common, vector_field=DENSE_FIELD, index_params=dense_index, search_params=dense_search)

    # ---- reads -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self.client.has_collection(self.collection))

    def effective_mode(self, mode: RetrievalMode | None = None) -> RetrievalMode:
        mode = mode or self.settings.retrieval_mode
        return mode if self.bm25_available else "dense"

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: RetrievalMode | None = None,
        module: str | None = None,
        floor: float | None = None,
    ) -> list[Hit]:
        """Top-k chunks for a query, each scored by cosine similarity, junk below the floor removed."""
        k = k or self.settings.top_k_retrieval
        floor = self.settings.relevance_floor if floor is None else floor
        if not self.exists():
            return []
        mode = self.effective_mode(mode)
        expr = self._module_filter(module)
        query_vector = self.embeddings.embed_query(query)
        fetch_k = max(4 * k, 20)
        lists: dict[str, list[Hit]] = {}
        if mode in ("dense", "hybrid"):
            lists["dense"] = self._search_field(DENSE_FIELD, query_vector, fetch_k, expr)
        if mode in ("bm25", "hybrid"):
            lists["bm25"] = self._search_field(SPARSE_FIELD, query, fetch_k, expr)
            self._fill_cosine(lists["bm25"], query_vector, known=lists.get("dense", []))
        hits = fuse_hits(lists) if len(lists) > 1 else next(iter(lists.values()))
        return apply_floor(hits, floor)[:k]

    def _module_filter(self, module: str | None) -> str:
        if not module:
            return ""
        module = module.strip().strip("/")
        if not _MODULE_RE.match(module):
            raise ValueError(f"Invalid module name {module!r}")
        return f'module == "{module}"'

    def _search_field(self, field: str, data: Any, limit: int, expr: str) -> list[Hit]:
        metric = "COSINE" if field == DENSE_FIELD else "BM25"
        results = self.client.search(
            self.collection,
            data=[data],
            anns_field=field,
            limit=limit,
            filter=expr,
            search_params={"metric_type": metric, "params": {}},
            output_fields=["text", *METADATA_FIELDS],
        )
        hits = []
        for row in results[0] if results else []:
            entity = dict(row.get("entity", {}))
            text = entity.pop("text", "")
            hit = Hit(id=str(row.get("id", row.get("pk"))), text=text, metadata=entity)
            if field == DENSE_FIELD:
                hit.cosine = float(row["distance"])
            else:
                hit.bm25 = abs(float(row["distance"]))
            hits.append(hit)
        return hits

    def _fill_cosine(self, hits: list[Hit], query_vector: list[float], known: list[Hit]) -> None:
        """BM25 hits need a dense similarity too, so one floor applies to every method."""
        by_id = {h.id: h.cosine for h in known}
        missing = [h for h in hits if h.id not in by_id]
        if missing:
            quoted = ", ".join(f'"{h.id}"' for h in missing)
            rows = self.client.query(self.collection, filter=f"pk in [{quoted}]", output_fields=["pk", DENSE_FIELD])
            for row in rows:
                vec = row[DENSE_FIELD]
                by_id[str(row["pk"])] = float(sum(a * b for a, b in zip(vec, query_vector, strict=False)))
        for hit in hits:
            hit.cosine = by_id.get(hit.id, 0.0)

    def count(self) -> int:
        if not self.exists():
            return 0
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def chunks_per_source(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        if not self.exists():
            return counts
        offset, page = 0, 1000
        while True:
            rows = self.client.query(
                self.collection, filter='pk != ""', output_fields=["source"], limit=page, offset=offset
            )
            for row in rows:
                counts[row.get("source", "?")] = counts.get(row.get("source", "?"), 0) + 1
            if len(rows) < page:
                return dict(sorted(counts.items()))
            offset += page

    # ---- writes ------------------------------------------------------------------------------
    def _pks_of_file(self, file_id: str) -> list[str]:
        if not self.exists():
            return []
        rows = self.client.query(
            self.collection, filter=f"file_id == {json.dumps(file_id)}", output_fields=["pk"], limit=16384
        )
        return [str(row["pk"]) for row in rows]

    def delete_orphans(self, file_id: str, keep: set[str]) -> int:
        """Remove chunks of a file that no record points at (left by a crash mid-write)."""
        orphans = [pk for pk in self._pks_of_file(file_id) if pk not in keep]
        if orphans:
            self.vs.delete(ids=orphans)
        return len(orphans)

    def delete_file(self, file_id: str) -> int:
        return self.delete_orphans(file_id, keep=set())

    def drop(self) -> None:
        if self.exists():
            self.client.drop_collection(self.collection)
        self.vs.col = None

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a dead connection must not mask the real error
            log.debug("closing Milvus client failed", exc_info=True)
