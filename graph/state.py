"""Graph state: the conversation (persisted per thread) and the fields of the current turn."""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

from core.sources import Source

Route = Literal["course", "chat"]


class Candidate(TypedDict):
    """A retrieved chunk as the graph carries it; `score` is its cosine similarity to the query."""

    id: str
    text: str
    metadata: dict
    score: float


class InputState(TypedDict, total=False):
    """What a caller sends: the question (the conversation comes from the checkpointer)."""

    question: str


class SentenceSupport(TypedDict):
    """How one sentence of the model's reply stands on the notes (unsupported ones are not in `answer`)."""

    text: str
    supported: bool
    n: int  # the [n] note that supports it best; 0 = none
    similarity: float
    overlap: float


class Verified(TypedDict, total=False):
    """Counts over the checked answer, for a page to show what was verified."""

    style: str  # "generative" or "extractive"
    sentences: int
    supported: int
    dropped: int


class OutputState(TypedDict, total=False):
    """What a caller gets back; the per-turn working fields stay internal."""

    answer: str
    sources: list[Source]
    grounded: bool  # true only when every sentence kept in `answer` is supported by a note
    support: list[SentenceSupport]
    verified: Verified
    route: Route
    rewrites: int
    query: str
    turns: int


class MentorState(InputState, OutputState, total=False):
    """The whole state: the conversation (kept per thread) plus the current turn's working fields."""

    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[Candidate]
    relevant: list[int]  # 1-based positions in candidates the evidence shows can answer the question
    evidence: list[dict]  # per candidate: coverage of the question's terms, the heaviest ones missing
    unknown_terms: list[str]  # question terms no chunk of the collection uses (then: refuse, no rewrite)
    standalone: str  # the question as the evidence judges it (a follow-up condensed to stand alone)
    grade_error: str
