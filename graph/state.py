"""Graph state: the conversation (persisted per thread) and the fields of the current turn."""

from __future__ import annotations

from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from core.answer import Reply


class Candidate(TypedDict):
    """A retrieved chunk as the graph carries it; `score` is its cosine similarity to the query."""

    id: str
    text: str
    metadata: dict[str, Any]
    score: float


class InputState(TypedDict, total=False):
    """What a caller sends: the question (the conversation comes from the checkpointer)."""

    question: str


OutputState = Reply  # what a caller gets back (core/answer.py); the per-turn working fields stay internal


class MentorState(InputState, Reply, total=False):
    """The whole state: the conversation (kept per thread) plus the current turn's working fields."""

    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[Candidate]
    relevant: list[int]  # 1-based positions in candidates the evidence shows can answer the question
    evidence: list[dict[str, Any]]  # per candidate: coverage of the question's terms, the heaviest ones missing
    unknown_terms: list[str]  # question terms no chunk of the collection uses (then: refuse, no rewrite)
    standalone: str  # the question as the evidence judges it (a follow-up condensed to stand alone)
    grade_error: str
    # HINTS_FIRST: title → file_id of the exercises this conversation held back (kept across turns: the page's "Show
    # the solution" under any of them names its title).
    exercises: dict[str, str]
    solution_of: str  # HINTS_FIRST: the exercise whose solution the student asked for, quoted whole ("" when none)
