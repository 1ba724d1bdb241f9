"""Where conversations live: a SQLite file (one machine), or PostgreSQL shared by every API replica.

CHECKPOINT_URI picks the LangGraph checkpointer: a path → AsyncSqliteSaver, postgresql://… → LangGraph's
maintained AsyncPostgresSaver on a psycopg connection pool. The pool checks each connection before
handing it out, so after a PostgreSQL restart the next request gets a fresh one: requests answer 503
while the database is down and work again as soon as it is back, without restarting the API.

A stored conversation keeps only its latest checkpoint (`keep_latest_checkpoint`), so its size is bounded by
HISTORY_MAX_MESSAGES. LangGraph's checkpointers keep the checkpoint of every step (about seven per turn, each
holding the whole conversation): with capped messages a SQLite conversation still grew by ~350 KB a turn for
3,500-character questions (measured, six turns). Continuing a conversation, or resuming an interrupted turn,
needs only the latest checkpoint of a finished turn. PostgreSQL's saver prunes itself; langgraph-checkpoint-sqlite
3.1 has no prune, so two statements on its own tables do it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver

from core.settings import Settings, resolve_path
from core.sql import (
    CONNECT_TIMEOUT_S,
    LOCK_POLL_S,
    StateUnavailableError,
    is_postgres,
    libpq_url,
    lock_key,
    redact,
)

CHECKPOINT_SETUP_LOCK = "ai-mentor:checkpoint-setup"  # replicas run LangGraph's migrations one at a time
# Connections per API process: requests are answered one at a time, plus the streaming and status routes.
POOL_SIZE = 4


async def _try_lock(conn: Any, key: int) -> bool:
    """One try at a session advisory lock, in its own (autocommit) transaction."""
    row = await (await conn.execute("SELECT pg_try_advisory_lock(%s) AS held", (key,))).fetchone()
    return bool(row and row["held"])


def state_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "a state database is unreachable" (→ 503), from the drivers that are installed."""
    import sqlalchemy.exc

    errors: list[type[BaseException]] = [StateUnavailableError, sqlalchemy.exc.OperationalError]
    try:
        import psycopg
        import psycopg_pool

        errors += [psycopg.OperationalError, psycopg_pool.PoolTimeout]
    except ImportError:  # SQLite-only installs have no psycopg
        pass
    return tuple(errors)


def unavailable_detail(settings: Settings, exc: BaseException, *, ingest: bool = False) -> str:
    """The 503 message: which database, named by its setting (password hidden), and that it recovers."""
    setting, what = ("RECORD_MANAGER_URL", "ingest records") if ingest else ("CHECKPOINT_URI", "conversation")
    url = settings.record_manager_db if ingest else settings.checkpoint_uri
    return (
        f"The {what} database ({setting}={redact(url)}) is unavailable ({type(exc).__name__}); "
        "requests will work again as soon as it answers."
    )


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """The checkpointer CHECKPOINT_URI names, open for the API's lifetime (schema created on first use)."""
    uri = settings.checkpoint_uri
    if not is_postgres(uri):
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        path = resolve_path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        async with AsyncSqliteSaver.from_conn_string(str(path)) as saver:
            yield saver
        return

    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        libpq_url(uri),
        min_size=1,
        max_size=POOL_SIZE,
        open=False,
        timeout=CONNECT_TIMEOUT_S,  # a request waits this long for a connection, then answers 503
        check=AsyncConnectionPool.check_connection,
        # the settings AsyncPostgresSaver documents for a pool
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row, "connect_timeout": 5},
    )
    try:
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        await pool.close()
        raise StateUnavailableError(f"CHECKPOINT_URI={redact(uri)} is unreachable: {exc}") from exc
    try:
        postgres = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        # Replicas starting together would run the schema migrations at once: one at a time.
        # A waiter polls (autocommit: no snapshot held between tries; see core.sql.LOCK_POLL_S): setup() runs
        # CREATE INDEX CONCURRENTLY, which would wait for a replica blocked inside pg_advisory_lock, for ever.
        key = lock_key(CHECKPOINT_SETUP_LOCK)
        async with pool.connection() as conn:
            while not await _try_lock(conn, key):
                await asyncio.sleep(LOCK_POLL_S)
            try:
                await postgres.setup()
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
        yield postgres
    finally:
        await pool.close()


async def keep_latest_checkpoint(saver: BaseCheckpointSaver[Any] | bool | None, thread_id: str) -> None:
    """Drop every checkpoint of `thread_id` but the latest (call it after a finished turn)."""
    if not isinstance(saver, BaseCheckpointSaver):
        return
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

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
