"""Pure retrieval logic: rank fusion and the relevance floor (no I/O, unit-tested)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

RRF_K = 60
# Per-method weight in the fusion (1.0 each = plain RRF).
FUSION_WEIGHTS: dict[str, float] = {"dense": 1.0, "bm25": 1.0}


@dataclass
class Hit:
    """One retrieved chunk with the evidence that ranked it."""

    id: str
    text: str
    metadata: dict
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


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity; MiniLM vectors are stored normalised, but a zero or unnormalised one must not
    produce a score above 1 or a division by zero."""
    dot = sum(x * y for x, y in zip(a, b, strict=False))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def fuse_hits(
    hit_lists: dict[str, Sequence[Hit]], k: int = RRF_K, weights: Mapping[str, float] | None = None
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
