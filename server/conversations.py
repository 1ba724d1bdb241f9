"""A stored conversation keeps only its latest checkpoint, so its size is bounded by HISTORY_MAX_MESSAGES.

LangGraph's checkpointers keep the checkpoint of every step (about seven per turn, each holding the whole
conversation): with capped messages a SQLite conversation still grew by ~350 KB a turn for 3,500-character
questions (measured, six turns). Continuing a conversation, or resuming an interrupted turn, needs only the
latest checkpoint of a finished turn. PostgreSQL's saver prunes itself; langgraph-checkpoint-sqlite 3.1 has no
prune, so two statements on its own tables do it.
"""

from __future__ import annotations

import contextlib

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver


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
