"""Request bodies of the /api routes (the answer they return is core/answer.py's)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, StrictBool, field_validator

from core.inputs import MODULE_NAME_PATTERN, QUESTION_PATTERN, ConversationId, ModuleName, Question
from server.validation import JsonInt, json_integer


class ChatRequest(BaseModel):
    """Body of POST /api/chat and /api/chat/stream (the original app's shape)."""

    message: Question
    conversation_id: ConversationId | None = None
    module: ModuleName | None = None


class IngestRequest(BaseModel):
    """Body of POST /api/ingest: a folder under INGEST_ROOTS."""

    directory: str = Field(
        ...,
        min_length=1,
        max_length=4096,
        json_schema_extra={"pattern": r"^/[^\u0000]*$"},  # what `_absolute` checks (and says why), in the schema
        description="Absolute path of a folder under INGEST_ROOTS.",
    )
    reset: StrictBool = False  # true or false, not "yes" or 1
    dry_run: StrictBool = False

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: str) -> str:
        # relative paths would resolve against the server's working folder: the project itself
        if "\x00" in value or not os.path.isabs(value):
            raise ValueError("must be an absolute path to a folder")
        return value


# ---- the web page's routes (server/web.py) ---------------------------------------------------------
MAX_COMMENT_CHARS = 2000


class FeedbackRequest(BaseModel):
    """Thumbs up or down on an answer, with an optional comment."""

    answer_id: str = Field(..., min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")
    rating: Annotated[Literal[1, -1], BeforeValidator(json_integer)] = Field(
        ..., description="1 = thumbs up, -1 = thumbs down."
    )
    comment: str = Field("", max_length=MAX_COMMENT_CHARS)


class NewConversation(BaseModel):
    """Body of POST /api/conversations: an empty object (a POST is JSON, so a page elsewhere can't send one
    without a CORS preflight)."""


class AnsweredRequest(BaseModel):
    """Body of POST /api/conversations/answered: the conversation ids this browser holds (the page keeps 30). Any
    string: one this server did not issue (a browser's id from before it signed them) matches nothing, rather than
    failing the others."""

    conversation_ids: list[Annotated[str, Field(max_length=65)]] = Field(..., max_length=50)


class RenderSource(BaseModel):
    """The fields of a source that locate it (the rest of the final event's source is ignored)."""

    n: JsonInt = Field(..., ge=1, le=99)
    source: str = Field(..., max_length=1000)
    page: JsonInt = 0
    slide: JsonInt = 0
    cell: JsonInt = 0
    anchor: str = Field("", max_length=500)
    headings: str = Field("", max_length=2000)
    line_start: JsonInt = Field(0, ge=0)  # the cited lines of a .txt/.py/.md source (0: none)
    line_end: JsonInt = Field(0, ge=0)


class RenderRequest(BaseModel):
    """An answer to render, with the sources its citations name."""

    answer: str = Field(..., max_length=16_000)
    sources: list[RenderSource] = Field(default_factory=list, max_length=50)


class ClosestRequest(BaseModel):
    """A question whose nearest notes a refusal shows."""

    question: str = Field(..., min_length=1, max_length=4000)
    module: str | None = Field(None, max_length=100, pattern=f"^$|{MODULE_NAME_PATTERN}")


class ExcerptSource(BaseModel):
    """A source's text, and the answer's sentences it was cited for."""

    n: JsonInt = Field(..., ge=1, le=99)
    source: str = Field("", max_length=1000)  # its file: Markdown, code or plain text by the suffix
    text: str = Field(..., max_length=20_000)
    cited: list[str] = Field(default_factory=list, max_length=20)


class ExcerptRequest(BaseModel):
    """The sources of an answer, to show each as an excerpt."""

    sources: list[ExcerptSource] = Field(default_factory=list, max_length=50)


class InstructorAnswerRequest(BaseModel):
    """An instructor's answer to a question the materials miss (POST and PUT /api/instructor/answers)."""

    # Not blank, no NUL (QUESTION_PATTERN): rules the schema states, so a client learns them from it.
    question: str = Field(
        ..., min_length=1, max_length=4000, pattern=QUESTION_PATTERN, description="The question it answers."
    )
    body: str = Field(
        ...,
        min_length=1,
        max_length=20_000,
        pattern=QUESTION_PATTERN,
        description="The answer, in Markdown (code allowed); shown sanitised.",
    )
    module: str = Field(
        "",
        max_length=100,
        pattern=f"^$|{MODULE_NAME_PATTERN}",
        description="A module of the course (one /api/modules lists; another is a 422); empty: the whole course.",
    )
    file: str = Field(
        "",
        max_length=400,
        pattern=r"^[^\x00]*$",
        description="A file of the course the answer links (a source as /api/instructor/files lists it; any other, "
        'or a path outside the ingest roots, is a 422); empty: none. The published answer ends "See also: <file>".',
    )
    asked: str = Field(
        "",
        max_length=4000,
        pattern=r"^[^\x00]*$",
        description="The student's question it answers, as the missing-material list shows it (on create only): "
        "the students who asked it see it answered even when `question` is reworded.",
    )


class ResolveRequest(BaseModel):
    """Body of POST /api/instructor/resolved: a missing-material row's key (as the summary gives it) and whether
    it is now resolved (false: reopened)."""

    key: str = Field(..., min_length=1, max_length=4000, pattern=QUESTION_PATTERN, description="The row's key.")
    resolved: bool = Field(True, description="true: mark resolved; false: reopen.")


class PublishRequest(BaseModel):
    """Body of POST /api/instructor/answers/{id}/publish: an empty object (a POST is JSON, server/body.py)."""
