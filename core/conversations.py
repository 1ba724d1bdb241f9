"""Conversation ids the server issues, and a stored conversation kept to its latest checkpoint.

A conversation belongs to whoever started it: its id is issued by the server (128 random bits and an HMAC of
them under the server's secret, core/secret.py), and only an id this server issued opens a conversation. Every
client shares one student key, so the key can't tell students apart; an unguessable id they alone were given
can. A client-chosen id ("t1") is refused (422), so it never continues another client's conversation.

A stored conversation keeps only its latest checkpoint, so its size is bounded by HISTORY_MAX_MESSAGES.

LangGraph's checkpointers keep the checkpoint of every step (about seven per turn, each holding the whole
conversation): with capped messages a SQLite conversation still grew by ~350 KB a turn for 3,500-character
questions (measured, six turns). Continuing a conversation, or resuming an interrupted turn, needs only the
latest checkpoint of a finished turn. PostgreSQL's saver prunes itself; langgraph-checkpoint-sqlite 3.1 has no
prune, so two statements on its own tables do it.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from core.secret import derived_key, sign
from core.settings import Settings, get_settings

NOT_ISSUED = "conversation_not_issued"


def _signature(nonce: str, settings: Settings) -> str:
    return sign(derived_key(settings, "conversation-ids"), f"conversation:{nonce}")


def issue_conversation_id(settings: Settings | None = None) -> str:
    """A new conversation's id: 32 random hex digits, '-', their 32-digit signature (65 characters)."""
    settings = settings or get_settings()
    nonce = secrets.token_hex(16)
    return f"{nonce}-{_signature(nonce, settings)}"


def was_issued(conversation_id: str, settings: Settings | None = None) -> bool:
    """Whether this server (or a replica sharing its MENTOR_SECRET) issued the id (constant-time)."""
    nonce, dash, signature = conversation_id.partition("-")
    if not dash or len(nonce) != 32 or len(signature) != 32:
        return False
    return hmac.compare_digest(_signature(nonce, settings or get_settings()), signature)


async def keep_latest_checkpoint(saver: BaseCheckpointSaver | bool | None, thread_id: str) -> None:
    """Drop every checkpoint of `thread_id` but the latest (call it after a finished turn)."""
    if not isinstance(saver, BaseCheckpointSaver):
        return
    if not isinstance(saver, AsyncSqliteSaver):
        with contextlib.suppress(NotImplementedError):  # in-memory savers (tests, Studio) store nothing
            await saver.aprune([thread_id], strategy="keep_latest")
        return
    latest = await saver.aget_tuple({"configurable": {"thread_id": thread_id}})
    if latest is None:
        return
    keep = (thread_id, latest.config["configurable"]["checkpoint_id"])
    async with saver.lock:
        for table in ("writes", "checkpoints"):
            await saver.conn.execute(
                f"DELETE FROM {table} WHERE thread_id = ? AND checkpoint_ns = '' AND checkpoint_id != ?", keep
            )
        await saver.conn.commit()
