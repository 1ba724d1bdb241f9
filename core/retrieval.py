"""Pure retrieval logic: rank fusion and the relevance floor (no I/O, unit-tested)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.text import IDENTIFIER

RRF_K = 60
# Per-method weight in the fusion. On questions in loose words BM25 is the weaker ranker (DocPrompting-CoNaLa
# page R@5: dense 54.8, BM25 43): at full weight it drags good dense hits down, at 0.3 it adds the pages
# dense misses (bench/retrieval_eval.py). A question that names an identifier gets BM25 at full weight.
FUSION_WEIGHTS: dict[str, float] = {"dense": 1.0, "bm25": 0.3}
IDENTIFIER_FUSION_WEIGHTS: dict[str, float] = {"dense": 1.0, "bm25": 1.0}

_WORD = re.compile(r"\w+(?:[.']\w+)*")
# A quoted value ('X', "echo Hello World"). The opening quote must not follow a letter, so the apostrophes
# of "what's" and "tuple's" never pair up into one long "value".
_QUOTED_VALUE = re.compile(r"(?<!\w)'[^'\n]*'(?!\w)|\"[^\"\n]*\"")


def keyword_text(text: str) -> str:
    """Text for BM25 (chunks and queries alike): the text plus the parts of every dotted or underscored name.

    Milvus's standard tokenizer keeps `os.getenv` and `read_csv` as single tokens, so a student asking about
    "getenv" would never match them; the parts are appended so both spellings match."""
    parts = [
        piece
        for word in _WORD.findall(text)
        if "." in word or "_" in word
        for piece in re.split(r"[._]+", word)
        if piece
    ]
    return f"{text}\n{' '.join(parts)}" if parts else text


def bm25_query(query: str) -> str:
    """BM25's text for a question: keyword_text without quoted data ("print('Hello')", 'a b c').

    Quoted data is what the student works with, not words the notes use: as query terms its words match
    chunks by accident. A quoted name ('yield', 'os.getenv') stays, unquoted; so does a question that is
    nothing but a quoted value."""
    unquoted = _QUOTED_VALUE.sub(_quoted_name_or_space, query)
    return keyword_text(unquoted if _WORD.search(unquoted) else query)


_NAME = re.compile(r"[A-Za-z_][\w.]*(?:\(\))?")


def _quoted_name_or_space(match: re.Match[str]) -> str:
    """'yield' or 'os.getenv' is a term the student asks about; "print('Hello')" or 'a b' is data."""
    inner = match.group(0)[1:-1].strip()
    return f" {inner} " if _NAME.fullmatch(inner) else " "


def identifier_names(query: str) -> list[str]:
    """The API names a question mentions (os.getenv, KeyError, read_csv, len()), lower-cased, without "()".
    Quoted values don't count."""
    return [m.group(0).lower().removesuffix("()") for m in IDENTIFIER.finditer(_QUOTED_VALUE.sub(" ", query))]


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(keyword_text(text))}


def fusion_weights(query: str, bm25_texts: Iterable[str] | None = None) -> dict[str, float]:
    """Exact names are what dense embeddings blur and BM25 finds: let BM25 count fully for them.

    With `bm25_texts` (BM25's hits) the name must also occur in one of them. A name the notes never use
    is the student's own (`output_filename`, `MyModel`): BM25 cannot match it, so its list is no better
    than for any loose question."""
    names = identifier_names(query)
    if not names:
        return FUSION_WEIGHTS
    if bm25_texts is None:
        return IDENTIFIER_FUSION_WEIGHTS
    wanted = set(names)
    return IDENTIFIER_FUSION_WEIGHTS if any(wanted & _words(text) for text in bm25_texts) else FUSION_WEIGHTS


@dataclass
class Hit:
    """One retrieved chunk with the evidence that ranked it."""

    id: str
    text: str
    metadata: dict[str, Any]
    cosine: float = 0.0  # dense similarity to the query, the score users see and the floor applies to
    bm25: float | None = None
    ranks: dict[str, int] = field(default_factory=dict)
    fused: float = 0.0


def rrf_fuse(
    rankings: dict[str, Sequence[str]], k: int = RRF_K, weights: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Reciprocal rank fusion: sum of weight/(k + rank) over every list an id appears in (rank is 1-based).

    Ranks, not raw scores, are fused because cosine and BM25 scores live on unrelated scales."""
    scores: dict[str, float] = {}
    for method, ranked_ids in rankings.items():
        weight = 1.0 if weights is None else weights.get(method, 1.0)
        for rank, doc_id in enumerate(ranked_ids, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + weight / (k + rank)
    return scores


def cosines(vectors: Sequence[Sequence[float]], query: Sequence[float]) -> list[float]:
    """Cosine of each vector to the query in one matrix product (50 BM25 hits: ~0.1 ms, not ~10 ms).

    MiniLM vectors are stored normalised, but a zero or unnormalised one must not produce a score above 1
    or a division by zero."""
    if not vectors:
        return []
    matrix = np.asarray(vectors, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(q))
    dots = matrix @ q
    return [float(d / n) if n else 0.0 for d, n in zip(dots, norms, strict=True)]


def fuse_hits(
    hit_lists: Mapping[str, Sequence[Hit]], k: int = RRF_K, weights: Mapping[str, float] | None = None
) -> list[Hit]:
    """Merge per-method hit lists into one list ordered by RRF score (ties broken by cosine)."""
    merged: dict[str, Hit] = {}
    for method, hits in hit_lists.items():
        for rank, hit in enumerate(hits, start=1):
            kept = merged.setdefault(hit.id, hit)
            kept.ranks[method] = rank
            if hit.bm25 is not None:
                kept.bm25 = hit.bm25
            kept.cosine = max(kept.cosine, hit.cosine)
    scores = rrf_fuse({m: [h.id for h in hits] for m, hits in hit_lists.items()}, k, weights)
    for doc_id, hit in merged.items():
        hit.fused = scores[doc_id]
    return sorted(merged.values(), key=lambda h: (h.fused, h.cosine), reverse=True)


def apply_floor(hits: Iterable[Hit], floor: float) -> list[Hit]:
    """Junk never reaches the generator: drop chunks whose cosine similarity is below the floor."""
    return [hit for hit in hits if hit.cosine >= floor]
