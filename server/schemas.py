"""Request and response bodies of the original app's /api routes."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from core.sources import Source


class ChatRequest(BaseModel):
    """Body of POST /api/chat and /api/chat/stream (the original app's shape)."""

    message: str = Field(..., description="The student's question.")
    conversation_id: str | None = Field(None, max_length=128, pattern=r"^[\w.\-:]+$")
    module: str | None = Field(None, max_length=100, description="Answer only from this course folder.")

    @field_validator("message")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("message must not be empty")
        return value.strip()


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

    directory: str
    reset: bool = False
    dry_run: bool = False
