"""Per-request knobs, defined once: read from RunnableConfig["configurable"], defaulting to the process Settings.

Each field names the Setting it defaults to, its limits and its description; LangServe's config specs are
generated from these fields (`config_specs`), so the API, the playground and the graph cannot disagree. What the
deployment fixes for every request (`Deployment`) is read from the same Settings and rides along, never a knob.
"""

from __future__ import annotations

from dataclasses import InitVar, dataclass, field, fields
from typing import Any, get_args, get_type_hints

from langchain_core.runnables import ConfigurableFieldSpec, RunnableConfig

from core.evidence import Answerability, Thresholds
from core.settings import AnswerStyle, RetrievalMode, Settings, get_settings
from graph import prompts


def knob(setting: str | None, description: str, low: float | None = None, high: float | None = None) -> Any:
    """A per-request field: the Setting that gives its default, its inclusive limits, its description."""
    return field(metadata={"setting": setting, "description": description, "low": low, "high": high})


@dataclass(frozen=True)
class Deployment:
    """What the deployment fixes for every request, read from Settings and never from a request: the course the
    prompts name is the one ingested, the chat format is the LLM server's, and HISTORY_MAX_MESSAGES bounds what a
    client makes the server store. The materials' language (COURSE_LANGUAGE) comes with the collection's term
    statistics, which the store built in it."""

    course: str  # as every prompt names it: "Introduction to Python (a beginner's programming course: …)"
    merge_system_prompt: bool  # fold the system text into the user turn (chat formats that drop system messages)
    history_max_messages: int  # messages a stored conversation keeps
    hints_first: bool = True  # an exercise's solution is held back until asked for (HINTS_FIRST)

    @classmethod
    def from_settings(cls, settings: Settings) -> Deployment:
        """The deployment's values in these Settings."""
        return cls(
            course=prompts.course(settings),
            merge_system_prompt=settings.merge_system_prompt,
            history_max_messages=settings.history_max_messages,
            hints_first=settings.hints_first,
        )


@dataclass(kw_only=True)
class Configuration:
    """Every knob a request may set; a value out of its limits is clamped, one of the wrong kind rejected."""

    k: int = knob("top_k_retrieval", "Excerpts retrieved (1-20).", 1, 20)
    draft_notes: int = knob("draft_notes", "Relevant excerpts the model drafts from, best ranked first (1-20).", 1, 20)
    temperature: float = knob("llm_temperature", "Sampling temperature (0-2).", 0.0, 2.0)
    max_rewrites: int = knob("max_rewrites", "Query rewrites before an honest refusal (0-5).", 0, 5)
    module: str = knob(None, "Answer only from this course folder, e.g. week03 (empty: all folders).")
    retrieval_mode: RetrievalMode = knob("retrieval_mode", "hybrid, dense or bm25.")
    relevance_floor: float = knob("relevance_floor", "Minimum cosine similarity of an excerpt (-1 to 1).", -1.0, 1.0)
    answer_style: AnswerStyle = knob(
        "answer_style", "generative (checked sentence by sentence), extractive (quotes, no LLM) or auto."
    )
    min_coverage: float = knob("min_coverage", "Share of the question's weighted terms an excerpt must hold.", 0, 1)
    strong_similarity: float = knob(
        "strong_similarity", "Cosine at which an excerpt counts as a paraphrase of the question.", 0, 1.01
    )
    weak_similarity: float = knob(
        "weak_similarity", "Below this cosine an excerpt must hold weak_min_coverage of the question's terms.", 0, 1.01
    )
    weak_min_coverage: float = knob(
        "weak_min_coverage", "Share of the question's weighted terms a weakly similar excerpt must hold.", 0, 1
    )
    synonym_similarity: float = knob(
        "synonym_similarity",
        "Cosine at which an excerpt may answer a question with one word the materials never use.",
        0,
        1.01,
    )
    refuse_unknown_terms: bool = knob("refuse_unknown_terms", "Refuse questions naming terms the materials never use.")
    llm_grader: bool = knob("llm_grader", "Let the LLM veto excerpts the evidence accepted (for strong models).")
    grade_accept_score: float = knob(
        "grade_accept_score", "With llm_grader: excerpts at or above this cosine are kept without asking.", -1, 1.01
    )
    grade_note_chars: int = knob("grade_note_chars", "With llm_grader: characters of each excerpt it reads.", 0, 20000)
    max_tokens: int = knob("llm_max_tokens", "Most tokens the answer may take (1-2048).", 1, 2048)
    support_similarity: float = knob(
        "support_similarity",
        "Cosine at which a note sentence supports a sentence of the answer (with support_overlap).",
        0,
        1.01,
    )
    support_overlap: float = knob(
        "support_overlap", "Share of an answer sentence's content terms the supporting note must hold.", 0, 1
    )
    history_max_tokens: int = knob(
        "history_max_tokens", "Tokens of the conversation a follow-up is rewritten with (0-4096).", 0, 4096
    )
    # Not a knob (an InitVar is no field, and the knobs are the fields): the Settings `deployment` is read from.
    settings: InitVar[Settings | None] = None

    def __post_init__(self, settings: Settings | None) -> None:
        self.deployment = Deployment.from_settings(settings or get_settings())

    def answerability(self) -> Answerability:
        """The knobs that decide whether a note can answer, as the rule core/evidence.py applies."""
        return Answerability(
            min_coverage=self.min_coverage,
            strong_similarity=self.strong_similarity,
            weak_similarity=self.weak_similarity,
            weak_min_coverage=self.weak_min_coverage,
            synonym_similarity=self.synonym_similarity,
            relevance_floor=self.relevance_floor,
        )

    def thresholds(self) -> Thresholds:
        """The knobs that decide whether a sentence of the answer is supported, as core/evidence.py checks it."""
        return Thresholds(similarity=self.support_similarity, overlap=self.support_overlap)

    @classmethod
    def from_runnable_config(cls, config: RunnableConfig | None = None) -> Configuration:
        """Defaults from Settings; request values coerced to the field's type and clamped to its limits."""
        settings = get_settings()
        configurable = (config or {}).get("configurable", {}) or {}
        hints = get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = configurable.get(f.name)
            value = _default(f.name, f.metadata, settings) if raw is None else _coerce(f.name, hints[f.name], raw)
            low, high = f.metadata["low"], f.metadata["high"]
            if low is not None and high is not None:
                value = type(value)(max(low, min(value, high)))
            values[f.name] = value
        return cls(**values, settings=settings)


def _default(name: str, metadata: Any, settings: Settings) -> Any:
    return getattr(settings, metadata["setting"]) if metadata["setting"] else ""


def _coerce(name: str, annotation: Any, raw: Any) -> Any:
    """A request's value as the field's type; a value that can't be one is the client's mistake (ValueError)."""
    choices = get_args(annotation)
    if choices:  # a Literal
        if raw not in choices:
            raise ValueError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return raw
    if annotation is bool:
        if isinstance(raw, bool):
            return raw
        if str(raw).lower() in ("true", "1", "yes", "false", "0", "no"):
            return str(raw).lower() in ("true", "1", "yes")
        raise ValueError(f"{name} must be true or false, not {raw!r}")
    if annotation is str:
        if not isinstance(raw, str):
            raise ValueError(f"{name} must be a string")
        return raw
    try:
        number = annotation(raw)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{name} must be a number, not {raw!r}") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be a finite number")
    return number


def config_specs() -> list[ConfigurableFieldSpec]:
    """LangServe's per-request config specs, one per Configuration field, each with a concrete default (a null
    default leaves the playground's config form invalid). Choices are sent as strings the graph validates."""
    settings = get_settings()
    hints = get_type_hints(Configuration)
    specs = []
    for f in fields(Configuration):
        annotation = hints[f.name]
        specs.append(
            ConfigurableFieldSpec(
                id=f.name,
                annotation=str if get_args(annotation) else annotation,
                default=_default(f.name, f.metadata, settings),
                description=f.metadata["description"],
            )
        )
    return specs
