"""The course store: one Milvus collection (Milvus Lite file or Milvus server) with dense + BM25 search."""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from core.embeddings import embedder_of
from core.evidence import TermStats
from core.retrieval import Hit, apply_floor, bm25_query, cosines, fuse_hits, fusion_weights, keyword_text
from core.settings import RetrievalMode, Settings, resolve_path
from core.sources import SOURCE_KEYS
from core.store_errors import DatabaseLockedError, EmbedderMismatchError, StoreError, lite_db_locked


def _import_pymilvus() -> None:
    """`pymilvus` parses $MILVUS_URI at import time and rejects a file path, yet MILVUS_URI is also this
    app's (and the original app's) name for a Milvus Lite file: hide it from pymilvus while it loads."""
    value = os.environ.pop("MILVUS_URI", None)
    # gRPC's C core logs keepalive chatter ("too_many_pings") with Milvus Lite's embedded server.
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        import pymilvus  # noqa: F401
    finally:
        if value is not None:
            os.environ["MILVUS_URI"] = value


_import_pymilvus()

from langchain_milvus import BM25BuiltInFunction, Milvus  # noqa: E402

log = logging.getLogger(__name__)
# Candidates fetched per method before fusion: a chunk ranked ~40th by one method and high by the other
# must still be seen by the fusion (50 measured best on bench/retrieval_eval.py; 20 lost 2-3 points).
FETCH_FACTOR = 4
MIN_FETCH = 50
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="milvus-search")
CONNECT_TIMEOUT_S = 10  # seconds for a Milvus server to accept a connection

DENSE_FIELD = "dense"
SPARSE_FIELD = "sparse"
TEXT_FIELD = "text"
SEARCH_FIELD = "search_text"  # BM25's input: the chunk with its title/headings/anchor (see bm25_text)
# file_id and seq (a chunk's place in its file) let an answer read a chunk's neighbours (`neighbours`).
METADATA_FIELDS = [*SOURCE_KEYS, "content_hash", "file_id", "seq", "exercise", "solution"]
# Term statistics read at most this many chunks (a sample is enough to tell rare terms from common ones) and
# are re-read when the collection's size changes, checked at most once a minute (other replicas may ingest).
STATS_MAX_CHUNKS = 50_000
STATS_RECHECK_SECONDS = 60.0
# A module is a course folder's name; it goes into a filter expression, so only these characters pass.
MODULE_PATTERN = r"^[\w.\- ]{1,100}$"
_MODULE_RE = re.compile(MODULE_PATTERN)
# Milvus Lite databases this process has opened: its embedded server keeps the lock until exit, and a
# second client in the same process is fine, so only other processes' locks matter.
_OPENED_HERE: set[str] = set()
# Databases (uri|collection) whose dense-only fallback has been announced in this process.
_WARNED: set[str] = set()

# Milvus Lite's embedded gRPC server logs a traceback for an RPC it doesn't implement (AllocTimestamp,
# used only to wait for index builds it finishes synchronously); it is noise, not an error.
logging.getLogger("grpc._server").setLevel(logging.CRITICAL)


def server_supports_bm25(version: str) -> bool:
    """Milvus gained the built-in BM25 function in 2.5; every Milvus Lite 2.5+/3.x has it."""
    match = re.search(r"(\d+)\.(\d+)", version)
    return match is not None and (int(match.group(1)), int(match.group(2))) >= (2, 5)


def bm25_text(doc: Document) -> str:
    """What BM25 indexes: the chunk plus where it sits (title, heading path, anchor split into words).

    A chunk deep inside an API entry rarely repeats its module's or function's name, yet questions name
    them ("read an environment variable with os"); the dense vector keeps seeing the chunk alone."""
    meta = doc.metadata
    anchor = re.sub(r"[^\w]+", " ", str(meta.get("anchor") or "")).strip()
    context = [str(meta.get("title") or ""), str(meta.get("headings") or ""), anchor]
    return keyword_text("\n".join([*(c for c in context if c), doc.page_content]))


class UpsertMilvus(Milvus):
    """Writes by id are upserts: a crash between the vector write and the record-manager write can then
    never leave two copies of a chunk (Milvus does not enforce primary-key uniqueness on insert)."""

    search_field: str | None = None  # set when BM25 reads a context-enriched copy of the text

    def _add_metadata_fields(self, schema: Any, metadatas: list[dict[str, Any]] | None = None) -> None:
        """Metadata lives in the dynamic field, but BM25's input must be a declared, analysed VARCHAR."""
        super()._add_metadata_fields(schema, metadatas)
        if self.search_field:
            from pymilvus import DataType

            schema.add_field(self.search_field, DataType.VARCHAR, max_length=65_535, enable_analyzer=True)

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Adds BM25's context-enriched text and the embedder to each chunk, and upserts when ids are given.

        Every write passes here (ingest, instructor answers, the benchmarks' own indexes), so no chunk is stored
        without the embedder that made its vector (CourseStore.check_embedder)."""
        ids = kwargs.pop("ids", None)
        embedder = embedder_of(self.embedding_func)  # type: ignore[arg-type]
        documents = [
            Document(
                page_content=d.page_content,
                metadata={**d.metadata, "embedder": embedder}
                | ({self.search_field: bm25_text(d)} if self.search_field else {}),
            )
            for d in documents
        ]
        if self.col is None or not ids:
            return super().add_documents(documents, ids=ids, **kwargs)
        self.upsert(ids=ids, documents=documents, **kwargs)
        return list(ids)


def connection_args(settings: Settings) -> dict[str, Any]:
    """MILVUS_URI with its token and TLS settings, as pymilvus and langchain-milvus take them."""
    connection: dict[str, Any] = {"uri": settings.milvus_connection_uri}
    if settings.milvus_token:
        connection["token"] = settings.milvus_token
    if settings.milvus_server_pem_path:  # TLS (an https:// URI): trust this certificate
        connection.update(secure=True, server_pem_path=str(resolve_path(settings.milvus_server_pem_path)))
    if settings.milvus_server_name:
        connection["server_name"] = settings.milvus_server_name
    return connection


def open_client(settings: Settings) -> Any:
    """A MilvusClient; a server that does not answer fails within seconds instead of hanging the start
    (Milvus Lite is left to take its time: opening a large file takes 10 s and more)."""
    from pymilvus import MilvusClient

    timeout = None if settings.milvus_is_local else CONNECT_TIMEOUT_S
    return MilvusClient(**connection_args(settings), timeout=timeout)


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
        connection = connection_args(settings)
        try:
            probe = open_client(settings)
            self.server_version = str(probe.get_server_version())
            exists = bool(probe.has_collection(self.collection))
            described = probe.describe_collection(self.collection) if exists else {}
            fields = {f.get("name") for f in described.get("fields", [])}
            has_sparse = SPARSE_FIELD in fields
        except Exception as exc:  # pymilvus raises several unrelated types for "cannot connect"
            raise StoreError(f"Cannot open Milvus at MILVUS_URI={uri}: {exc}") from exc
        self.bm25_available = server_supports_bm25(self.server_version) and (has_sparse or not exists)
        self._exists = exists
        if not self.bm25_available:
            self._warn_dense_fallback(settings.retrieval_mode, has_sparse=has_sparse, exists=exists)
        self.client = probe
        if settings.milvus_is_local:
            _OPENED_HERE.add(uri)
        # Collections made before BM25 read SEARCH_FIELD keep indexing the plain text until re-ingested.
        self.bm25_input = SEARCH_FIELD if SEARCH_FIELD in fields or not exists else TEXT_FIELD
        self._connection = connection
        self.vs = self._open(connection, hybrid=self.bm25_available)
        self._stats: TermStats | None = None
        self._stats_rows = -1
        self._stats_checked = 0.0
        self._stats_lock = threading.Lock()
        self._embedder_checked = 0.0
        self._embedder_problem = ""

    def _warn_dense_fallback(self, mode: str, *, has_sparse: bool, exists: bool) -> None:
        """One warning per database and process (the API, the loader and the graph each open a store), and
        only once hybrid or BM25 is actually asked for, so a dense-only deployment stays quiet."""
        key = f"{self.settings.milvus_connection_uri}|{self.collection}"
        if mode == "dense" or key in _WARNED:
            return
        _WARNED.add(key)
        if server_supports_bm25(self.server_version) and exists and not has_sparse:
            reason = f"collection {self.collection} was created without a BM25 field (re-ingest with --reset)"
        else:
            reason = f"Milvus {self.server_version} has no built-in BM25 (needs Milvus >= 2.5)"
        log.warning("%s at %s: falling back to dense retrieval.", reason, self.settings.milvus_connection_uri)

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
            function = BM25BuiltInFunction(input_field_names=self.bm25_input, output_field_names=SPARSE_FIELD)
            vs = UpsertMilvus(
                **common,
                builtin_function=function,
                vector_field=[DENSE_FIELD, SPARSE_FIELD],
                index_params=[
                    dense_index,
                    {"index_type": "SPARSE_INVERTED_INDEX", "metric_type": "BM25", "params": {}},
                ],
                search_params=[dense_search, {"metric_type": "BM25", "params": {}}],
            )
            vs.search_field = SEARCH_FIELD if self.bm25_input == SEARCH_FIELD else None
            return vs
        return UpsertMilvus(**common, vector_field=DENSE_FIELD, index_params=dense_index, search_params=dense_search)

    # ---- reads -------------------------------------------------------------------------------
    def exists(self) -> bool:
        """Ask Milvus (another client may have dropped or created the collection) and remember the answer."""
        self._exists = bool(self.client.has_collection(self.collection))
        return self._exists

    def effective_mode(self, mode: RetrievalMode | None = None) -> RetrievalMode:
        """The mode a search really runs in: dense when this Milvus or collection has no BM25."""
        mode = mode or self.settings.retrieval_mode
        if mode != "dense" and not self.bm25_available:
            self._warn_dense_fallback(mode, has_sparse=False, exists=self._exists)
            return "dense"
        return mode

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
        # Searches skip the has_collection round trip once the collection has been seen; if it was dropped
        # since (by another client), the failed search re-checks.
        if not (self._exists or self.exists()):
            return []
        self.check_embedder()
        try:
            return self._search(query, k, mode, module, floor)
        except Exception:
            if not self.exists():
                return []
            raise

    def _search(self, query: str, k: int, mode: RetrievalMode | None, module: str | None, floor: float) -> list[Hit]:
        mode = self.effective_mode(mode)
        expr = self._module_filter(module)
        query_vector = self.embeddings.embed_query(query)
        fetch_k = max(FETCH_FACTOR * k, MIN_FETCH)
        lists: dict[str, list[Hit]] = {}
        if mode == "hybrid":
            # Both searches at once: the gRPC calls release the GIL and Milvus serves them in parallel.
            dense_f = _POOL.submit(self._search_field, DENSE_FIELD, query_vector, fetch_k, expr)
            bm25_f = _POOL.submit(self._search_field, SPARSE_FIELD, bm25_query(query), fetch_k, expr, query_vector)
            lists = {"dense": dense_f.result(), "bm25": bm25_f.result()}
        elif mode == "dense":
            lists["dense"] = self._search_field(DENSE_FIELD, query_vector, fetch_k, expr)
        else:
            lists["bm25"] = self._search_field(SPARSE_FIELD, bm25_query(query), fetch_k, expr, query_vector)
        if len(lists) > 1:
            bm25_texts = (bm25_text(Document(page_content=h.text, metadata=h.metadata)) for h in lists["bm25"])
            weights = fusion_weights(query, bm25_texts)
            hits = fuse_hits(lists, weights=weights)
        else:
            hits = next(iter(lists.values()))
        return apply_floor(hits, floor)[:k]

    def _module_filter(self, module: str | None) -> str:
        if not module:
            return ""
        module = module.strip().strip("/")
        if not _MODULE_RE.match(module):
            raise ValueError(f"Invalid module name {module!r}")
        return f'module == "{module}"'

    def _search_field(
        self, field: str, data: Any, limit: int, expr: str, query_vector: list[float] | None = None
    ) -> list[Hit]:
        """One ranked list. BM25 hits also fetch their stored dense vector, so their cosine (the score users
        see and the floor applies to) costs no extra round trip."""
        metric = "COSINE" if field == DENSE_FIELD else "BM25"
        fields = ["text", *METADATA_FIELDS]
        if field != DENSE_FIELD:
            fields.append(DENSE_FIELD)
        results = self.client.search(
            self.collection,
            data=[data],
            anns_field=field,
            limit=limit,
            filter=expr,
            search_params={"metric_type": metric, "params": {}},
            output_fields=fields,
            # Milvus 2.3 server, 10k chunks: Strong p50 200 ms, Bounded 4-10 ms (bench/retrieval_latency --server)
            consistency_level=self.settings.milvus_consistency,
        )
        hits, vectors = [], []
        for row in results[0] if results else []:
            entity = dict(row.get("entity", {}))
            text = entity.pop("text", "")
            vectors.append(entity.pop(DENSE_FIELD, None))
            hit = Hit(id=str(row.get("id", row.get("pk"))), text=text, metadata=entity)
            if field == DENSE_FIELD:
                hit.cosine = float(row["distance"])
            else:
                hit.bm25 = abs(float(row["distance"]))
            hits.append(hit)
        if field != DENSE_FIELD and query_vector:
            known = [(hit, vector) for hit, vector in zip(hits, vectors, strict=True) if vector is not None]
            scores = cosines([vector for _, vector in known], query_vector)
            for (hit, _), score in zip(known, scores, strict=True):
                hit.cosine = score
        return hits

    def neighbours(self, chunks: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """The text just before and just after each chunk (by metadata) in the same section of its file.

        A retrieved chunk is a cut of arbitrary size: "works, but:" and a code cell carry nothing to quote
        while the paragraph before them says "we cannot change individual characters in a string". One query
        for all chunks; ("", "") for a chunk ingested before chunks had a `seq` (pipeline < 4)."""
        wanted: dict[str, set[int]] = {}
        for meta in chunks:
            if isinstance(meta.get("seq"), int) and meta.get("file_id"):
                wanted.setdefault(str(meta["file_id"]), set()).update((meta["seq"] - 1, meta["seq"] + 1))
        found: dict[tuple[str, int], dict[str, Any]] = {}
        if wanted and self.exists():
            expr = " or ".join(
                f"(file_id == {json.dumps(fid)} and seq in {sorted(s for s in seqs if s >= 0)})"
                for fid, seqs in wanted.items()
            )
            try:
                rows = self.client.query(
                    self.collection, filter=expr, output_fields=["text", "file_id", "seq", "headings"], limit=16384
                )
            except Exception:  # context is a bonus: an answer must not fail for want of it
                log.warning("reading neighbouring chunks failed; quoting chunks alone", exc_info=True)
                rows = []
            found = {(str(r["file_id"]), int(r["seq"])): r for r in rows if isinstance(r.get("seq"), int)}
        out = []
        for meta in chunks:
            fid, seq, headings = str(meta.get("file_id") or ""), meta.get("seq"), meta.get("headings")
            if not isinstance(seq, int):
                out.append(("", ""))
                continue
            before, after = (found.get((fid, seq + step)) for step in (-1, 1))
            same = [str(r["text"]) if r and r.get("headings") == headings else "" for r in (before, after)]
            out.append((same[0], same[1]))
        return out

    def exercise(self, file_id: str, title: str, solution: bool = False) -> list[Hit]:
        """The chunks of one exercise of a file (its task and hints; with `solution`, its worked solution), in file
        order (hints first: graph.py)."""
        if not self.exists():
            return []
        which = f"exercise == {json.dumps(title)} and solution == {'true' if solution else 'false'}"
        expr = f"file_id == {json.dumps(file_id)} and {which}"
        rows = self.client.query(self.collection, filter=expr, output_fields=["text", *METADATA_FIELDS], limit=64)
        hits = [Hit(id=str(r.get("pk", "")), text=str(r.pop("text", "")), metadata=r) for r in rows]
        return sorted(hits, key=lambda h: int(h.metadata.get("seq") or 0))

    def check_embedder(self) -> None:
        """Raise EmbedderMismatchError when chunks were embedded by another model or backend than this process's
        embeddings (embedder_of; ingest records it on every chunk): a question's vector is never compared
        with unlike vectors. Read again at most once a minute, and after every write (flush)."""
        now = time.monotonic()
        if not self._embedder_checked or now - self._embedder_checked >= STATS_RECHECK_SECONDS:
            mine = embedder_of(self.embeddings)
            total = self.count()
            rows = self.client.query(
                self.collection, filter=f"embedder == {json.dumps(mine)}", output_fields=["count(*)"]
            )
            same = int(rows[0]["count(*)"]) if rows and total else 0
            self._embedder_problem = ""
            if same < total:
                other = self.client.query(
                    self.collection, filter=f"embedder != {json.dumps(mine)}", output_fields=["embedder"], limit=1
                )
                made = str(other[0].get("embedder") or "") if other else ""
                self._embedder_problem = (
                    f"{total - same} of {total} chunks in {self.collection} were embedded by "
                    f"{made or 'an earlier version that did not record its embedder'}, and this process embeds "
                    f"questions with {mine}: re-ingest the course (python -m loaders --directory DIR, "
                    "POST /api/ingest, or ./startup.sh) to embed them again, or set EMBEDDING_BACKEND to what made "
                    "them."
                )
            self._embedder_checked = now
        if self._embedder_problem:
            raise EmbedderMismatchError(self._embedder_problem)

    def count(self) -> int:
        """Chunks in the collection; 0 when it does not exist yet."""
        if not self.exists():
            return 0
        rows = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def chunks_per_source(self) -> dict[str, int]:
        """Chunks per source file, read in pages (a query returns at most 16,384 rows)."""
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

    def file_ids(self) -> set[str]:
        """Every file the chunks came from (their `file_id`), read in pages like chunks_per_source."""
        found: set[str] = set()
        if not self.exists():
            return found
        offset, page = 0, 1000
        while True:
            rows = self.client.query(
                self.collection, filter='pk != ""', output_fields=["file_id"], limit=page, offset=offset
            )
            found.update(str(row.get("file_id", "")) for row in rows)
            if len(rows) < page:
                return found
            offset += page

    def term_stats(self) -> TermStats:
        """How rare each term is in the collection (document frequencies over its chunks, with their titles and
        headings), for the answerability check in core/evidence.py. Built once (1,413 chunks: ~0.5 s), rebuilt
        when the collection's size has changed."""
        with self._stats_lock:
            now = time.monotonic()
            if self._stats is not None and now - self._stats_checked < STATS_RECHECK_SECONDS:
                return self._stats
            rows = self.count()
            self._stats_checked = now
            if self._stats is None or rows != self._stats_rows:
                stats = TermStats(language=self.settings.course_language)
                for text in self._texts(STATS_MAX_CHUNKS):
                    stats.add(text)
                self._stats, self._stats_rows = stats, rows
            return self._stats

    def _texts(self, limit: int) -> Iterator[str]:
        """Chunk texts with their title and headings, in pages (a query's offset + limit is capped at 16,384)."""
        if not self.exists():
            return
        iterator = self.client.query_iterator(
            self.collection,
            batch_size=1000,
            limit=limit,
            filter='pk != ""',
            output_fields=["text", "title", "headings"],
        )
        try:
            while rows := iterator.next():
                for row in rows:
                    yield "\n".join(str(row.get(k) or "") for k in ("title", "headings", "text"))
        finally:
            iterator.close()

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
        """Remove every chunk of a file that left the folder; returns how many."""
        return self.delete_orphans(file_id, keep=set())

    def warm_up(self) -> None:
        """Run one query so the first student doesn't wait: Milvus Lite builds its BM25 index lazily on the
        first full-text search after opening (measured: ~4 s at 100,000 chunks)."""
        self.search("warm up", 1, floor=-1.0)  # an empty or missing collection answers [] at once

    def flush(self) -> None:
        """Seal what was just written. Milvus Lite searches unsealed (growing) data far more slowly: measured
        on 3.5k fresh chunks, 750 ms per hybrid query before a flush and 60 ms after."""
        if self.exists():
            self.client.flush(self.collection)
        with self._stats_lock:
            self._stats_checked = 0.0  # written: re-read the term statistics on next use
        self._embedder_checked = 0.0  # and which embedder made the vectors

    def drop(self) -> None:
        """Delete the collection; the next write recreates it with the current schema."""
        if self.client.has_collection(self.collection):
            self.client.drop_collection(self.collection)
        self._exists = False
        # The next write creates the collection afresh, with the current schema (BM25 on SEARCH_FIELD).
        self.bm25_available = server_supports_bm25(self.server_version)
        self.bm25_input = SEARCH_FIELD
        self.vs = self._open(self._connection, hybrid=self.bm25_available)

    def close(self) -> None:
        """Release the Milvus client; never raises, so it is safe in `finally` blocks."""
        try:
            self.client.close()
        except Exception:  # closing a dead connection must not mask the real error
            log.debug("closing Milvus client failed", exc_info=True)
