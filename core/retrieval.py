"""Pure retrieval logic: rank fusion and the relevance floor (no I/O, unit-tested)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

RRF_K = 60


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


def rrf_fuse(rankings: dict[str, Sequence[str]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion: sum of 1/(k + rank) over every list an id appears in (rank is 1-based)."""
    scores: dict[str, float] = {}
    for ranked_ids in rankings.values():
        for rank, doc_id in enumerate(ranked_ids, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    return scores


def fuse_hits(hit_lists: dict[str, Sequence[Hit]], k: int = RRF_K) -> list[Hit]:
    """Merge per-method hit lists into one list ordered by RRF score (ties broken by cosine)."""
    merged: dict[str, Hit] = {}
    for method, hits in hit_lists.items():
        for rank, hit in enumerate(hits, start=1):
            kept = merged.setdefault(hit.id, hit)
            kept.ranks[method] = rank
            if hit.bm25 is not None:
                kept.bm25 = hit.bm25
    scores = rrf_fuse({m: [h.id for h in hits] for m, hits in hit_lists.items()}, k)
    for doc_id, hit in merged.items():
        hit.fused = scores[doc_id]
    return sorted(merged.values(), key=lambda h: (h.fused, h.cosine), reverse=True)


def apply_floor(hits: Iterable[Hit], floor: float) -> list[Hit]:
    """Junk never reaches the generator: drop chunks whose cosine similarity is below the floor."""
    return [hit for hit in hits if hit.cosine >= floor]
