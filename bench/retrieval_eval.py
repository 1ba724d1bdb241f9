"""Retrieval quality on a real benchmark: DocPrompting-CoNaLa questions against the Python 3.11 docs.

Why: "hybrid beats dense" must be a measured fact, not a belief. The docs are indexed with the project's
own parser, chunker and CourseStore (same schema, same search code), then every question is asked in
dense, bm25 and hybrid mode over the same index; Recall@k and MRR are reported at page and anchor level.

    .venv/bin/python -m bench.retrieval_eval                 # default subset (see --help)
    .venv/bin/python -m bench.retrieval_eval --all-pages     # the whole documentation (~31k chunks)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from langchain_core.embeddings import Embeddings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DOCS_DIR = Path("/usr/share/doc/python3.11/html")
QUESTIONS = PROJECT_ROOT.parent / "shared" / "eval" / "conala_dev.json"
DEFAULT_DB = Path(tempfile.gettempdir()) / "ai_mentor_bench" / "pydocs.db"
COLLECTION = "pydocs"
MODES = ("dense", "bm25", "hybrid")
KS = (1, 5, 10)
# Sections of the docs an API question can be answered from; distractors are drawn from them too.
DISTRACTOR_DIRS = ("library", "tutorial", "reference", "howto", "faq")
DEFAULT_DISTRACTORS = 60

log = logging.getLogger("bench.retrieval_eval")


@dataclass
class Question:
    """One benchmark question with its gold pages and gold (page, element id) anchors."""

    text: str
    pages: set[str]
    anchors: set[tuple[str, str]]


@dataclass
class QuestionSet:
    questions: list[Question]
    total: int  # entries in the file
    left_out: int  # entries without any python.* anchor
    unresolved_anchors: list[str] = field(default_factory=list)  # python.* anchors with no element id


def anchor_page(anchor: str) -> tuple[str, str]:
    """`python.library.os#os.getenv` → (`library/os.html`, `os.getenv`)."""
    page, _, element = anchor.removeprefix("python.").partition("#")
    folder, _, name = page.partition(".")
    return f"{folder}/{name}.html", element


_ID_RE = re.compile(r'\bid="([^"]+)"')


def load_questions(path: Path, docs: Path) -> QuestionSet:
    """Read a DocPrompting split; keep python.* anchors only and map each to an element id that exists.

    `functions#list` style anchors name the built-in whose element id is `func-list`; an anchor whose id
    exists in neither form still counts at page level and is listed as unresolved."""
    entries = json.loads(path.read_text())
    ids: dict[str, set[str]] = {}
    questions: list[Question] = []
    unresolved: list[str] = []
    left_out = 0
    for entry in entries:
        gold = [a for a in entry.get("oracle_man", []) if a.startswith("python.")]
        if not gold:
            left_out += 1
            continue
        pages: set[str] = set()
        anchors: set[tuple[str, str]] = set()
        for anchor in gold:
            page, element = anchor_page(anchor)
            pages.add(page)
            if not element:
                continue
            if page not in ids:
                file = docs / page
                ids[page] = set(_ID_RE.findall(file.read_text(errors="replace"))) if file.is_file() else set()
            resolved = next((c for c in (element, f"func-{element}") if c in ids[page]), None)
            if resolved is None:
                unresolved.append(anchor)
            else:
                anchors.add((page, resolved))
        questions.append(Question(entry["nl"], pages, anchors))
    return QuestionSet(questions, len(entries), left_out, unresolved)


def _stable_order(path: str) -> str:
    return hashlib.sha1(path.encode()).hexdigest()


def all_pages(docs: Path) -> list[str]:
    """Every HTML page of the docs except Sphinx's generated folders (_static, _sources, …)."""
    return sorted(
        p.relative_to(docs).as_posix() for p in docs.rglob("*.html") if not p.relative_to(docs).parts[0].startswith("_")
    )


def select_pages(
    docs: Path,
    gold_pages: Iterable[str],
    distractors: int | None = DEFAULT_DISTRACTORS,
    max_distractor_bytes: int | None = None,
) -> list[str]:
    """Every gold page that exists plus `distractors` other pages (None = all pages of the docs).

    Distractors come from DISTRACTOR_DIRS in a fixed pseudo-random order (sha1 of the path), so the same
    arguments always index the same pages and no page is picked for being easy or hard."""
    pages = all_pages(docs)
    gold = sorted(p for p in set(gold_pages) if (docs / p).is_file())
    if distractors is None:
        return pages
    candidates = [p for p in pages if p.split("/")[0] in DISTRACTOR_DIRS and p not in gold]
    if max_distractor_bytes:
        candidates = [p for p in candidates if (docs / p).stat().st_size <= max_distractor_bytes]
    candidates.sort(key=_stable_order)
    return sorted(gold + candidates[:distractors])


def embedding_cache_path(folder: Path) -> Path:
    """One cache file per embedding model and backend (EMBEDDING_BACKEND), so two never share vectors."""
    from core import factories
    from core.embeddings import embedder_of

    which = str(factories.embedding_model_path())
    embedder = embedder_of(factories.get_embeddings())
    if not embedder.endswith("/torch"):  # torch's cache keeps the name it had before there were backends
        which += f"|{embedder}"
    model = hashlib.sha1(which.encode()).hexdigest()[:8]
    return folder / f"embeddings-{model}.sqlite"


class CachedEmbeddings(Embeddings):
    """Embeddings memoised in SQLite by text hash: re-indexing after a change to the BM25 analyzer or the
    fusion code then costs seconds, not the ~20 chunks/s MiniLM manages on 2 CPU cores."""

    def __init__(self, inner: Embeddings, path: Path) -> None:
        self.inner = inner
        self.embedder = getattr(inner, "embedder", "")  # the chunks record what really made the vectors
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute("CREATE TABLE IF NOT EXISTS emb (h TEXT PRIMARY KEY, v TEXT)")
        self.queries: dict[str, list[float]] = {}
        self.computed = 0

    @staticmethod
    def _key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key(t) for t in texts]
        found: dict[str, list[float]] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, value in self.db.execute(f"SELECT h, v FROM emb WHERE h IN ({marks})", part):
                found[key] = json.loads(value)
        missing = [i for i, k in enumerate(keys) if k not in found]
        if missing:
            vectors = self.inner.embed_documents([texts[i] for i in missing])
            self.computed += len(missing)
            rows = [(keys[i], json.dumps(v)) for i, v in zip(missing, vectors, strict=True)]
            self.db.executemany("INSERT OR REPLACE INTO emb VALUES (?, ?)", rows)
            self.db.commit()
            found.update({keys[i]: v for i, v in zip(missing, vectors, strict=True)})
        return [found[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        if text not in self.queries:
            self.queries[text] = self.inner.embed_query(text)
        return self.queries[text]


@dataclass
class IndexInfo:
    db: str
    pages: int
    chunks: int
    reused: bool
    seconds: float
    parse_seconds: float = 0.0
    embedded: int = 0  # chunks embedded in this run (the rest came from the embedding cache)
    embed_seconds: float = 0.0


def pipeline_signature() -> str:
    """Parsing, chunking or store code changes what an index holds: a reused index must match it."""
    digest = hashlib.sha256()
    for rel in ("loaders/parsers.py", "loaders/chunking.py", "core/store.py", "core/retrieval.py"):
        digest.update((PROJECT_ROOT / rel).read_bytes())
    return digest.hexdigest()[:16]


def open_store(db: Path, embeddings: Embeddings, collection: str = COLLECTION):  # type: ignore[no-untyped-def]
    """A CourseStore on its own Milvus Lite file, with settings that ignore the developer's .env."""
    from core.factories import get_store
    from core.settings import Settings

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        milvus_uri=str(db),
        milvus_collection_name=collection,
        retrieval_mode="hybrid",
    )
    return get_store(settings, embeddings)


def build_index(
    docs: Path,
    pages: Sequence[str],
    db: Path,
    embeddings: Embeddings,
    *,
    chunk_size: int = 512,
    chunk_overlap: int = 50,
    progress: bool = False,
):  # type: ignore[no-untyped-def]
    """Index the pages with the loader's parser and chunker into `db`; reuse it if it already holds them.

    Returns (store, IndexInfo). The store must be closed by the caller."""
    from loaders.chunking import chunk_file
    from loaders.parsers import ParseError, parse_file

    started = time.perf_counter()
    manifest_path = db.with_suffix(".manifest.json")
    wanted = {
        "pages": list(pages),
        "signature": pipeline_signature(),
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "embedder": getattr(embeddings, "embedder", ""),
    }
    store = open_store(db, embeddings)
    if manifest_path.is_file() and json.loads(manifest_path.read_text()).get("index") == wanted and store.exists():
        chunks = store.count()
        return store, IndexInfo(str(db), len(pages), chunks, True, round(time.perf_counter() - started, 1))
    store.drop()
    manifest_path.unlink(missing_ok=True)
    parse_seconds = embed_seconds = 0.0
    embedded_before = getattr(embeddings, "computed", 0)
    total = 0
    batch: list = []

    def write() -> None:
        nonlocal embed_seconds
        t0 = time.perf_counter()
        ids = [hashlib.sha256(f"{d.metadata['source']}|{i}|{d.page_content}".encode()).hexdigest()[:32]
               for i, d in enumerate(batch, start=total - len(batch))]  # fmt: skip
        store.vs.add_documents(batch, ids=ids)
        embed_seconds += time.perf_counter() - t0
        batch.clear()

    for number, page in enumerate(pages, start=1):
        t0 = time.perf_counter()
        try:
            parsed = parse_file(docs / page)
        except ParseError as exc:
            log.warning("skipping %s: %s", page, exc)
            continue
        docs_ = chunk_file(
            parsed, source=page, file_id=page, module=page.split("/")[0],
            chunk_size=chunk_size, chunk_overlap=chunk_overlap,
        )  # fmt: skip
        parse_seconds += time.perf_counter() - t0
        batch.extend(docs_)
        total += len(docs_)
        if len(batch) >= 512:
            write()
        if progress:
            print(f"\r  indexed {number}/{len(pages)} pages, {total} chunks", end="", file=sys.stderr, flush=True)
    if batch:
        write()
    store.flush()  # as the loader does after an ingest: sealed data is searched an order of magnitude faster
    if progress:
        print(file=sys.stderr)
    manifest_path.write_text(json.dumps({"index": wanted, "chunks": total}))
    info = IndexInfo(
        str(db), len(pages), total, False, round(time.perf_counter() - started, 1),
        round(parse_seconds, 1), getattr(embeddings, "computed", 0) - embedded_before, round(embed_seconds, 1),
    )  # fmt: skip
    return store, info


@dataclass
class ModeResult:
    mode: str
    page_recall: dict[int, float]
    page_mrr: float
    anchor_recall: dict[int, float]
    anchor_mrr: float
    anchor_questions: int  # questions with at least one resolved gold anchor
    seconds: float


def _recall_and_rr(retrieved: Sequence[object], gold: set[object], ks: Sequence[int]) -> tuple[dict[int, float], float]:
    """Recall@k = share of the question's gold items among the top k; RR = 1 / rank of the first gold item."""
    recall = {k: len(gold & set(retrieved[:k])) / len(gold) for k in ks}
    rank = next((i for i, item in enumerate(retrieved, start=1) if item in gold), 0)
    return recall, (1.0 / rank if rank else 0.0)


def evaluate(store, questions: Sequence[Question], modes: Sequence[str] = MODES, ks: Sequence[int] = KS):  # type: ignore[no-untyped-def]
    """Ask every question in every mode over the same index; the relevance floor is off (-1)."""
    depth = max(ks)
    results: dict[str, ModeResult] = {}
    for mode in modes:
        started = time.perf_counter()
        page_r = {k: 0.0 for k in ks}
        anchor_r = {k: 0.0 for k in ks}
        page_mrr = anchor_mrr = 0.0
        anchor_n = 0
        for q in questions:
            hits = store.search(q.text, depth, mode=mode, floor=-1.0)
            pages = [h.metadata.get("source", "") for h in hits]
            anchors = [(h.metadata.get("source", ""), h.metadata.get("anchor", "")) for h in hits]
            recall, rr = _recall_and_rr(pages, set(q.pages), ks)
            for k in ks:
                page_r[k] += recall[k]
            page_mrr += rr
            if q.anchors:
                anchor_n += 1
                recall, rr = _recall_and_rr(anchors, set(q.anchors), ks)
                for k in ks:
                    anchor_r[k] += recall[k]
                anchor_mrr += rr
        n = max(len(questions), 1)
        a = max(anchor_n, 1)
        results[mode] = ModeResult(
            mode,
            {k: round(100 * v / n, 1) for k, v in page_r.items()},
            round(page_mrr / n, 3),
            {k: round(100 * v / a, 1) for k, v in anchor_r.items()},
            round(anchor_mrr / a, 3),
            anchor_n,
            round(time.perf_counter() - started, 1),
        )
    return results


def format_report(qs: QuestionSet, used: int, index: IndexInfo, scope: str, results: dict[str, ModeResult]) -> str:
    lines = [
        f"questions: {qs.total} in file, {qs.left_out} left out (no python.* anchor), {used} scored; "
        f"{len(qs.unresolved_anchors)} python.* anchors have no element id in the docs "
        f"(page level only): {sorted(set(qs.unresolved_anchors))}",
        f"index: {scope}",
        f"  {index.pages} pages, {index.chunks} chunks in {index.db} "
        + (
            "(reused)"
            if index.reused
            else f"built in {index.seconds:.0f} s: parse+chunk {index.parse_seconds:.0f} s, "
            f"embed+write {index.embed_seconds:.0f} s, {index.embedded} chunks embedded this run"
        ),
        "Recall@k = share of a question's gold pages/anchors in the top k; MRR over the top 10; floor off.",
        f"{'mode':8} {'page R@1':>8} {'R@5':>6} {'R@10':>6} {'MRR':>6} | {'anchor R@1':>10} {'R@5':>6} "
        f"{'R@10':>6} {'MRR':>6} | {'s':>5}",
    ]
    for r in results.values():
        lines.append(
            f"{r.mode:8} {r.page_recall[1]:8.1f} {r.page_recall[5]:6.1f} {r.page_recall[10]:6.1f} {r.page_mrr:6.3f} | "
            f"{r.anchor_recall[1]:10.1f} {r.anchor_recall[5]:6.1f} {r.anchor_recall[10]:6.1f} {r.anchor_mrr:6.3f} | "
            f"{r.seconds:5.1f}"
        )
    if "hybrid" in results and "dense" in results:
        delta = results["hybrid"].page_recall[5] - results["dense"].page_recall[5]
        verdict = "met" if delta >= 5 else "NOT met"
        lines.append(f"hybrid - dense, page-level Recall@5: {delta:+.1f} points (target >= +5: {verdict})")
        adelta = results["hybrid"].anchor_recall[5] - results["dense"].anchor_recall[5]
        lines.append(f"hybrid - dense, anchor-level Recall@5: {adelta:+.1f} points")
    return "\n".join(lines)


def run(
    *,
    questions_path: Path = QUESTIONS,
    docs: Path = DOCS_DIR,
    db: Path = DEFAULT_DB,
    distractors: int | None = DEFAULT_DISTRACTORS,
    limit_pages: int | None = None,
    limit_questions: int | None = None,
    max_distractor_bytes: int | None = None,
    modes: Sequence[str] = MODES,
    progress: bool = False,
    cache_dir: Path | None = None,
) -> dict:
    """The whole benchmark as a function, for the CLI and the CI-sized integration test."""
    from core import factories

    qs = load_questions(questions_path, docs)
    questions = qs.questions[:limit_questions] if limit_questions else qs.questions
    gold_pages = sorted({p for q in questions for p in q.pages})
    if distractors is None:
        pages = select_pages(docs, gold_pages, None)
        scope = "the whole documentation"
    else:
        pages = select_pages(docs, gold_pages, distractors, max_distractor_bytes)
        scope = (
            f"every gold page of the scored questions ({len([p for p in gold_pages if (docs / p).is_file()])}) "
            f"+ {len(pages) - len([p for p in gold_pages if (docs / p).is_file()])} distractor pages from "
            f"{', '.join(DISTRACTOR_DIRS)}/ (fixed sha1 order"
            + (f", files <= {max_distractor_bytes} bytes" if max_distractor_bytes else "")
            + ")"
        )
    if limit_pages:
        pages = pages[:limit_pages]
        scope += f", cut to the first {limit_pages} pages"
    embeddings = CachedEmbeddings(factories.get_embeddings(), embedding_cache_path(cache_dir or db.parent))
    store, index = build_index(docs, pages, db, embeddings, progress=progress)
    try:
        results = evaluate(store, questions, modes)
    finally:
        store.close()
    return {
        "questions": qs,
        "scored": len(questions),
        "index": index,
        "scope": scope,
        "indexed_pages": pages,
        "results": results,
    }


def to_json(outcome: dict) -> dict:
    qs: QuestionSet = outcome["questions"]
    results: dict[str, ModeResult] = outcome["results"]
    data = {
        "questions_in_file": qs.total,
        "left_out": qs.left_out,
        "scored": outcome["scored"],
        "unresolved_anchors": sorted(set(qs.unresolved_anchors)),
        "index": asdict(outcome["index"]),
        "scope": outcome["scope"],
        "indexed_pages": outcome["indexed_pages"],
        "results": {m: asdict(r) for m, r in results.items()},
    }
    if "hybrid" in results and "dense" in results:
        data["hybrid_minus_dense_page_recall5"] = round(
            results["hybrid"].page_recall[5] - results["dense"].page_recall[5], 1
        )
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=QUESTIONS, help="DocPrompting split (JSON list)")
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help="Python 3.11 HTML docs folder")
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="Milvus Lite file (reused when it matches)")
    parser.add_argument("--distractors", type=int, default=DEFAULT_DISTRACTORS,
                        help="non-gold pages added to the gold pages (default %(default)s)")  # fmt: skip
    parser.add_argument("--all-pages", action="store_true", help="index the whole documentation (~31k chunks)")
    parser.add_argument("--limit-pages", type=int, help="index only the first N selected pages (quick runs)")
    parser.add_argument("--limit-questions", type=int, help="score only the first N questions (quick runs)")
    parser.add_argument("--cache-dir", type=Path, help="embedding cache folder (default: the --db folder)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for path, what in ((args.questions, "questions file"), (args.docs, "docs folder")):
        if not path.exists():
            print(f"{what} not found: {path}", file=sys.stderr)
            return 2
    outcome = run(
        questions_path=args.questions,
        docs=args.docs,
        db=args.db,
        distractors=None if args.all_pages else args.distractors,
        limit_pages=args.limit_pages,
        limit_questions=args.limit_questions,
        progress=not args.json,
        cache_dir=args.cache_dir,
    )
    if args.json:
        print(json.dumps(to_json(outcome), indent=2))
    else:
        print(format_report(outcome["questions"], outcome["scored"], outcome["index"], outcome["scope"],
                            outcome["results"]))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
