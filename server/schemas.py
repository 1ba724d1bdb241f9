"""Request and response bodies of the original app's /api routes."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field, field_validator

from core.sources import Source
from server.validation import ConversationId, ModuleName, Question


class ChatRequest(BaseModel):
    """Body of POST /api/chat and /api/chat/stream (the original app's shape)."""

    message: Question
    conversation_id: ConversationId | None = None
    module: ModuleName | None = None


class SourceItem(BaseModel):
    """The original app's source shape: the chunk's text and score, the rest of its Source in `metadata`."""

    text: str
    score: float
    metadata: dict

    @classmethod
    def of(cls, source: Source) -> SourceItem:
        """A Source in the original app's nesting."""
        return cls(
            text=source["text"], score=source["score"], metadata={k: v for k, v in source.items() if k != "text"}
        )


class ChatResponse(BaseModel):
    """Body of POST /api/chat's answer."""

    response: str
    sources: list[SourceItem]
    conversation_id: str
    grounded: bool = False
    route: str = ""
    support: list[dict] = Field(default_factory=list, description="Per-sentence check of the model's reply.")
    verified: dict | None = None


class IngestRequest(BaseModel):
    """Body of POST /api/ingest: a folder under INGEST_ROOTS."""

    directory: str = Field(
        ..., min_length=1, max_length=4096, description="Absolute path of a folder under INGEST_ROOTS."
    )
    reset: bool = False
    dry_run: bool = False

    @field_validator("directory")
    @classmethod
    def _absolute(cls, value: str) -> str:
        # relative paths would resolve against the server's working folder: the project itself
        if "\x00" in value or not os.path.isabs(value):
            raise ValueError("must be an absolute path to a folder")
        return value
