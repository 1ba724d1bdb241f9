"""Per-request settings, read from RunnableConfig["configurable"], defaulting to the process Settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig

from core.settings import get_settings


@dataclass(kw_only=True)
class Configuration:
    k: int
    temperature: float
    max_rewrites: int
    module: str | None = None
    retrieval_mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    relevance_floor: float = 0.25
    grade_accept_score: float = 0.35
    grade_note_chars: int = 200
    max_tokens: int = 256
    answer_style: Literal["generative", "extractive", "auto"] = "auto"
    min_coverage: float = 0.4
    strong_similarity: float = 0.55
    refuse_unknown_terms: bool = True
    llm_grader: bool = False

    @classmethod
    def from_runnable_config(cls, config: RunnableConfig | None = None) -> Configuration:
        settings = get_settings()
        defaults: dict[str, Any] = {
            "k": settings.top_k_retrieval,
            "temperature": settings.llm_temperature,
            "max_rewrites": settings.max_rewrites,
            "retrieval_mode": settings.retrieval_mode,
            "relevance_floor": settings.relevance_floor,
            "grade_accept_score": settings.grade_accept_score,
            "grade_note_chars": settings.grade_note_chars,
            "max_tokens": settings.llm_max_tokens,
            "answer_style": settings.answer_style,
            "min_coverage": settings.min_coverage,
            "strong_similarity": settings.strong_similarity,
            "refuse_unknown_terms": settings.refuse_unknown_terms,
            "llm_grader": settings.llm_grader,
        }
        configurable = (config or {}).get("configurable", {}) or {}
        names = {f.name for f in fields(cls)}
        values = {**defaults, **{k: v for k, v in configurable.items() if k in names and v is not None}}
        values["k"] = max(1, min(int(values["k"]), 20))
        values["max_rewrites"] = max(0, min(int(values["max_rewrites"]), 5))
        values["temperature"] = max(0.0, min(float(values["temperature"]), 2.0))
        return cls(**values)
