"""Incremental, crash-safe ingestion of one folder into the course store.

Design: LangChain's indexing API with a SQL record manager gives every chunk a content-derived id and
replaces exactly a changed file's chunks; writes to Milvus are upserts, so a crash between the store
write and the record write cannot duplicate a chunk; a per-file manifest skips unchanged files
without parsing them and finds removed ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from langchain_core.documents import Document
from langchain_core.indexing import RecordManager, index

from core import factories
from core.embeddings import embedder_of
from core.settings import Settings, get_settings, inside
from core.sql import advisory_lock, engine_for
from core.store import CourseStore
from loaders.chunking import chunk_file
from loaders.manifest import FileEntry, Manifest
from loaders.parsers import ParseError, parse_file, supported
from loaders.report import FileResult, IngestReport, Status

log = logging.getLogger(__name__)

# Bump when parsing or chunking changes what a file turns into: every file is then re-indexed.
# 8: a DOCX's paragraphs end with a blank line; a DOCX's and a PDF's code (a monospace font) is fenced; 7: the text
# after a ::: directive goes on with the section open before it (key points after a last solution were part of
# it); 6: exercises and their solutions marked (`exercise`, `solution`); 5: notebook heading paths nest; front
# matter and ::: fences dropped; line ranges
PIPELINE_VERSION = "8"
# New chunks are embedded together, this many at a time (≈ 3 MB of vectors), before their files are written.
EMBED_WINDOW = 2048
SKIP_DIRS = {".git", ".ipynb_checkpoints", "__pycache__", ".venv", "node_modules"}


@dataclass
class Candidate:
    """A file found under the ingested folder, before it is fingerprinted or parsed."""

    path: Path
    source: str  # posix path relative to the ingested folder
    module: str  # first folder level below the root ("" for files at the top)


def discover(root: Path, own_roots: Collection[str] = ()) -> tuple[list[Candidate], list[FileResult]]:
    """Walk the folder once, following symlinks but never in a loop or out of it; report what cannot be read.

    A symlink leading outside the folder (to a file or a folder) is listed as skipped, never read: whoever runs
    the ingest (the CLI, the server for a client) means this folder, and students are quoted what it holds.
    A folder in `own_roots` (real paths) is an ingest root of its own, listed as skipped: the instructor's
    answers, ingested from their folder so their modules are its subfolders, not "instructor_answers"."""
    found: list[Candidate] = []

    def outside(path: str) -> bool:
        return not inside(path, root)

    problems: list[FileResult] = []
    seen_dirs: set[str] = set()

    def on_error(err: OSError) -> None:
        where = Path(err.filename) if err.filename else root
        problems.append(FileResult(_relative(where, root), "failed", reason=f"unreadable folder: {err.strerror}"))

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=on_error):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            problems.append(FileResult(_relative(Path(dirpath), root), "skipped", reason="symlink loop"))
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        for d in [d for d in dirnames if outside(os.path.join(dirpath, d))]:
            problems.append(
                FileResult(_relative(Path(dirpath) / d, root), "skipped", reason="links outside the folder")
            )
            dirnames.remove(d)
        for d in [d for d in dirnames if os.path.realpath(os.path.join(dirpath, d)) in own_roots]:
            problems.append(FileResult(_relative(Path(dirpath) / d, root), "skipped", reason="ingested on its own"))
            dirnames.remove(d)
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            source = _relative(path, root)
            if outside(str(path)):
                problems.append(FileResult(source, "skipped", reason="links outside the folder"))
                continue
            if not supported(path):
                problems.append(FileResult(source, "skipped", reason=f"unsupported type {path.suffix or '(none)'}"))
                continue
            found.append(Candidate(path, source, module_of(source)))
    return found, problems


def module_of(source: str) -> str:
    """A file's module: the first folder level below the ingested folder ("" for files at its top)."""
    parts = Path(source).parts
    return parts[0] if len(parts) > 1 else ""


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def fingerprint(path: Path, settings: Settings, embedder: str = "") -> str:
    """Content hash salted with the pipeline version, chunk sizes and the embedder (model and backend): a change to
    any of them re-ingests the file."""
    salt = f"{PIPELINE_VERSION}|{settings.chunk_size}|{settings.chunk_overlap}|"
    digest = hashlib.sha256((salt + (f"{embedder}|" if embedder else "")).encode())
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_manager_for(settings: Settings, namespace: str) -> RecordManager:
    """LangChain's SQL record manager on RECORD_MANAGER_URL (a SQLite file beside the database by default)."""
    from langchain_classic.indexes import SQLRecordManager

    manager = SQLRecordManager(namespace, engine=engine_for(settings.record_manager_db))
    manager.create_schema()
    return manager


def namespace_for(settings: Settings) -> str:
    """One record namespace per database and collection, so two collections never share records."""
    return f"milvus:{settings.milvus_connection_uri}:{settings.milvus_collection_name}"


class Progress(Protocol):
    """What ingest reports progress to, so the CLI can plug in tqdm and the server can stay silent."""

    def update(self, n: int = 1) -> None:
        """Count n more units done."""

    def add_total(self, n: int) -> None:
        """Grow the total (chunks are known only as files are parsed)."""

    def close(self) -> None:
        """Finish the display."""


ProgressFactory = Callable[[int, str], Progress]


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def add_total(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _no_progress(total: int, label: str) -> Progress:
    return _Silent()


def ingest_directory(
    directory: Path,
    *,
    settings: Settings | None = None,
    store: CourseStore | None = None,
    reset: bool = False,
    dry_run: bool = False,
    progress: ProgressFactory = _no_progress,
) -> IngestReport:
    """Bring the collection in line with the folder: add new files, replace changed ones, delete removed ones."""
    settings = settings or get_settings()
    root = directory.expanduser().resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{directory} is not a folder")
    started = time.perf_counter()
    report = IngestReport(str(root), settings.milvus_collection_name, dry_run=dry_run)
    answers = os.path.realpath(settings.instructor_answers_path)
    candidates, problems = discover(root, {answers} if answers != str(root) else set())
    report.files.extend(problems)

    own_store = store is None
    store = store or factories.get_store(settings)
    namespace = namespace_for(settings)
    engine = engine_for(settings.record_manager_db)
    with ExitStack() as cleanup:
        if own_store:
            cleanup.callback(store.close)
        # One ingest of a collection at a time, whichever replica or CLI runs it (a no-op on SQLite).
        cleanup.enter_context(advisory_lock(engine, "ingest:" + namespace))
        manifest = Manifest(engine, namespace)
        records = record_manager_for(settings, namespace)
        if reset and not dry_run:
            _reset(store, records, manifest)
        elif not store.exists() and manifest.total_entries():
            # A record manager that outlives its collection would report every file "unchanged".
            log.warning("Collection %s is missing but ingest records exist: rebuilding.", store.collection)
            _reset(store, records, manifest)
        known = manifest.entries(str(root))
        embedder = embedder_of(store.embeddings)
        files_bar, chunks_bar = progress(len(candidates), "files"), progress(0, "chunks")
        window: list[_Pending] = []
        window_chunks = 0
        for candidate in candidates:
            prepared = _prepare(candidate, known, settings, dry_run, embedder)
            if isinstance(prepared, FileResult):
                report.files.append(prepared)
                files_bar.update()
                continue
            chunks_bar.add_total(len(prepared.docs))
            window.append(prepared)
            window_chunks += len(prepared.docs)
            if window_chunks >= EMBED_WINDOW:
                _write_window(window, root, store, records, manifest, report, files_bar, chunks_bar)
                window, window_chunks = [], 0
        _write_window(window, root, store, records, manifest, report, files_bar, chunks_bar)
        files_bar.close()
        chunks_bar.close()
        present = {str(c.path.resolve()) for c in candidates}
        for file_id, entry in known.items():
            if file_id in present:
                continue
            deleted = 0 if dry_run else _delete_file(file_id, store, records)
            if not dry_run:
                manifest.forget(file_id)
            report.chunks_deleted += deleted
            report.files.append(FileResult(entry.source, "deleted", chunks=deleted or entry.chunks))
        if not dry_run and (report.chunks_written or report.chunks_deleted):
            store.flush()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


@dataclass
class _Pending:
    """A new or changed file, parsed and chunked, waiting for its window to be embedded and written."""

    candidate: Candidate
    status: Status
    fingerprint: str
    docs: list[Document]


def chunk_key(doc: Document) -> str:
    """The record key of a chunk: LangChain's sha256 key (content hash + metadata hash), computed here so
    ingest can ask the record manager which chunks are new before embedding anything."""
    content = hashlib.sha256(doc.page_content.encode("utf-8")).hexdigest()
    metadata = hashlib.sha256(json.dumps(doc.metadata, sort_keys=True).encode("utf-8")).hexdigest()
    return hashlib.sha256((content + metadata).encode("utf-8")).hexdigest()


def _prepare(
    candidate: Candidate, known: dict[str, FileEntry], settings: Settings, dry_run: bool, embedder: str
) -> FileResult | _Pending:
    """Fingerprint, parse and chunk one file; unchanged, failed and dry-run files end here."""
    file_id = str(candidate.path.resolve())
    try:
        fp = fingerprint(candidate.path, settings, embedder)
    except OSError as exc:
        return FileResult(candidate.source, "failed", reason=f"unreadable: {exc.strerror or exc}")
    previous = known.get(file_id)
    if previous and previous.fingerprint == fp:
        return FileResult(candidate.source, "unchanged", chunks=previous.chunks)
    status: Status = "updated" if previous else "added"
    try:
        parsed = parse_file(candidate.path)
    except ParseError as exc:
        return FileResult(candidate.source, "failed", reason=str(exc))
    except OSError as exc:
        return FileResult(candidate.source, "failed", reason=f"unreadable: {exc.strerror or exc}")
    docs = chunk_file(
        parsed,
        source=candidate.source,
        file_id=file_id,
        module=candidate.module,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    if dry_run:
        return FileResult(candidate.source, status, chunks=len(docs))
    for doc in docs:
        # Part of each chunk's record key: a new pipeline (e.g. what BM25 indexes) rewrites every chunk once.
        doc.metadata["pipeline"] = PIPELINE_VERSION
        # Which model and backend made the vector: another rewrites every chunk, and the store tells a server
        # that embeds questions otherwise (CourseStore.check_embedder) instead of comparing unlike vectors.
        doc.metadata["embedder"] = embedder
    return _Pending(candidate, status, fp, docs)


def _write_window(
    window: list[_Pending],
    root: Path,
    store: CourseStore,
    records: RecordManager,
    manifest: Manifest,
    report: IngestReport,
    files_bar: Progress,
    chunks_bar: Progress,
) -> None:
    """Embed the window's new chunks in one pass, then index file by file (each file commits on its own)."""
    if not window:
        return
    docs = [d for p in window for d in p.docs]
    exists = records.exists([chunk_key(d) for d in docs])
    new_texts = [d.page_content for d, known in zip(docs, exists, strict=True) if not known]
    prime = getattr(store.embeddings, "prime", None)
    embedded = prime(new_texts, chunks_bar.update) if prime else 0
    try:
        for pending in window:
            report.files.append(_index_file(pending, root, store, records, manifest, report))
            files_bar.update()
    finally:
        discard = getattr(store.embeddings, "discard", None)
        if discard:
            discard()
    chunks_bar.update(len(docs) - embedded)


def _index_file(
    pending: _Pending,
    root: Path,
    store: CourseStore,
    records: RecordManager,
    manifest: Manifest,
    report: IngestReport,
) -> FileResult:
    candidate, docs = pending.candidate, pending.docs
    file_id = str(candidate.path.resolve())
    result = index(
        docs,
        records,
        store.vs,
        cleanup="scoped_full",
        source_id_key="file_id",
        key_encoder=chunk_key,
        batch_size=256,
    )
    report.chunks_written += result["num_added"] + result["num_updated"]
    report.chunks_deleted += result["num_deleted"]
    store.delete_orphans(file_id, keep=set(records.list_keys(group_ids=[file_id])))
    manifest.record(str(root), FileEntry(file_id, candidate.source, pending.fingerprint, len(docs)))
    return FileResult(candidate.source, pending.status, chunks=len(docs))


def _delete_file(file_id: str, store: CourseStore, records: RecordManager) -> int:
    keys = records.list_keys(group_ids=[file_id])
    removed = store.delete_file(file_id)
    if keys:
        records.delete_keys(keys)
    return max(removed, len(keys))


def _reset(store: CourseStore, records: RecordManager, manifest: Manifest) -> None:
    """Drop the collection, its records and its manifest together: none may outlive the others."""
    store.drop()
    while keys := records.list_keys(limit=10_000):
        records.delete_keys(keys)
    manifest.clear()
