"""Graph state: the conversation (persisted per thread) and the fields of the current turn."""

from __future__ import annotations

from typing import Annotated, Literal, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages

Route = Literal["course", "chat"]


class Source(TypedDict, total=False):
    """A citation: [n] in the answer is sources[n-1]."""

    n: int
    source: str
    title: str
    headings: str
    module: str
    page: int
    slide: int
    cell: int
    anchor: str
    score: float
    snippet: str
    text: str


class Candidate(TypedDict):
    id: str
    text: str
    metadata: dict
    score: float


class InputState(TypedDict, total=False):
    question: str


class OutputState(TypedDict, total=False):
    answer: str
    sources: list[Source]
    grounded: bool
    route: Route
    rewrites: int
    query: str
    turns: int


class MentorState(InputState, OutputState, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    candidates: list[Candidate]
    relevant: list[int]  # 1-based positions in candidates judged relevant by the grader
    grade_error: str
