"""One answer shape from graph to HTTP: what a student is told, and how each sentence of it was checked.

The graph writes a `Reply` for each turn; the runnable adds the ids that make it an `Answer`; LangServe's output
schema, `/api/chat`'s response and its stream's `final` event (`ChatAnswer`, which repeats the text as the
original app's `response`), and the interaction log's row are all this one definition. Its citations [n] name
`sources[n-1]` (core/sources.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypedDict  # pydantic reads it on Python < 3.12 (the server's schemas)

from core.sources import Source

Route = Literal["course", "chat"]
Style = Literal["generative", "extractive"]


class Support(TypedDict):
    """How one sentence of the model's reply stands on the notes (unsupported ones are not in the answer)."""

    text: str
    supported: bool
    n: Annotated[int, Field(description="The [n] source that supports it best; 0 = none.")]
    similarity: float
    overlap: float


class Verified(TypedDict):
    """Counts over the checked answer, for a page to show what was verified."""

    style: Annotated[Style, Field(description="generative (the model's checked reply) or extractive (quoted notes).")]
    sentences: int
    supported: int
    dropped: int


class Reply(TypedDict):
    """What the graph writes for a turn: the answer with its sources and how it was checked."""

    answer: str
    sources: list[Source]
    grounded: Annotated[
        bool, Field(description="True only when every sentence of the answer is supported by a source.")
    ]
    support: list[Support]
    verified: Verified | None
    route: Route
    rewrites: int
    query: Annotated[str, Field(description="The standalone search query the question became.")]
    turns: Annotated[int, Field(description="Questions asked so far in this conversation.")]
    held_back: Annotated[
        str,
        Field(
            description="HINTS_FIRST: the title of the course exercise given back instead of its worked solution, "
            'which the student gets by asking for it ("Show me the solution to …"); "" when nothing was held back.'
        ),
    ]


class Answer(Reply):
    """The tutor's answer as every caller gets it: the turn's reply and the ids that continue and rate it."""

    conversation_id: Annotated[str, Field(description="Send it back to continue this conversation.")]
    answer_id: Annotated[str, Field(description="Random id of this answer: POST /api/feedback refers to it.")]


class ChatAnswer(Answer):
    """`/api/chat`'s body and its stream's `final` event: the answer, its text also as the original app's
    `response`."""

    response: Annotated[str, Field(description="The answer's text again (the original app's field name).")]


REPLY_DEFAULTS = Reply(
    answer="",
    sources=[],
    grounded=False,
    support=[],
    verified=None,
    route="course",
    rewrites=0,
    query="",
    turns=0,
    held_back="",
)


def answer(state: Mapping[str, Any], conversation_id: str, answer_id: str) -> Answer:
    """The Answer of a graph's final state: the reply's fields (a default for any the turn did not write) and
    the ids."""
    fields: dict[str, Any] = {key: state.get(key, default) for key, default in REPLY_DEFAULTS.items()}
    fields["grounded"] = bool(fields["grounded"])
    fields["verified"] = fields["verified"] or None
    out: Answer = {**fields, "conversation_id": conversation_id, "answer_id": answer_id}  # type: ignore[typeddict-item]
    return out


def chat_answer(answer: Answer) -> ChatAnswer:
    """The /api/chat shape of an answer: the same fields, the text repeated as `response`."""
    return ChatAnswer(**answer, response=answer["answer"])
