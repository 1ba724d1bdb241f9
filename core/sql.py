"""SQL state behind a URL: a SQLite file by default, PostgreSQL when several API replicas share it.

Settings hold either a plain path (SQLite, relative to the project) or a URL; this module turns them into
what SQLAlchemy (ingest records, the interaction log) and psycopg (LangGraph's Postgres checkpointer) expect,
makes the SQLAlchemy engines, hides passwords in messages, and serialises work that must not run twice at once
across processes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from core.settings import resolve_path

POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+psycopg://")
# A database that does not answer within this many seconds is reported, never waited on.
CONNECT_TIMEOUT_S = 5


class StateUnavailableError(RuntimeError):
    """A database named by a setting cannot be reached; the message names the setting."""


def is_postgres(url: str) -> bool:
    """A PostgreSQL URL (else: a SQLite path or another SQLAlchemy URL)."""
    return url.startswith(POSTGRES_SCHEMES)


def sqlalchemy_url(value: str) -> str:
    """A path → sqlite:///absolute/path; postgresql:// → the psycopg (3) driver, the one installed."""
    if is_postgres(value):
        return "postgresql+psycopg://" + value.split("://", 1)[1]
    if "://" in value:
        return value
    path = resolve_path(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def libpq_url(value: str) -> str:
    """postgresql+psycopg://… → postgresql://… (psycopg.connect takes libpq URIs only)."""
    return "postgresql://" + value.split("://", 1)[1]


def redact(url: str) -> str:
    """The URL for messages and logs: the password replaced by ***."""
    if "://" not in url:
        return url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown without its credentials part
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[-1]}" if "@" in rest else url


def new_engine(value: str, *, wal: bool = False) -> Engine:
    """An engine (connection pool) for a setting's path or URL, owned by the caller (who may dispose of it).

    `wal` (SQLite only): write-ahead logging, so readers and the one writer never wait for each other (the
    interaction log: the instructor page reads while its writer thread writes)."""
    url = sqlalchemy_url(value)
    # SQLite: several processes on one machine wait for each other's writes rather than fail
    sqlite = url.startswith("sqlite")
    connect_args: dict[str, Any] = {"timeout": 30} if sqlite else {"connect_timeout": CONNECT_TIMEOUT_S}
    # pool_pre_ping: a connection broken by a database restart is replaced, not handed out.
    engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    if sqlite and wal:

        @event.listens_for(engine, "connect")
        def _wal(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return engine


@lru_cache(maxsize=8)
def engine_for(value: str) -> Engine:
    """One shared engine per database and process (the ingest records)."""
    return new_engine(value)


def check_reachable(value: str, setting: str) -> None:
    """Open one connection within CONNECT_TIMEOUT_S, or raise StateUnavailableError naming the setting."""
    try:
        if is_postgres(value):
            import psycopg

            psycopg.connect(libpq_url(value), connect_timeout=CONNECT_TIMEOUT_S).close()
        else:
            with engine_for(value).connect() as conn:
                conn.execute(text("SELECT 1"))
    except Exception as exc:  # drivers raise many types for "cannot connect"; all mean the same here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StateUnavailableError(f"{setting}={redact(value)} is unreachable: {reason}") from exc


# Replicas wait for each other's schema set-up by polling pg_try_advisory_lock, never inside pg_advisory_lock: a
# session blocked there holds a snapshot, and LangGraph's checkpoint migrations run CREATE INDEX CONCURRENTLY,
# which waits for every older snapshot. Two replicas starting together on a new database waited on each other
# until PostgreSQL was stopped (fresh-clone CI run, test_replicas.py); PostgreSQL does not see that deadlock.
LOCK_POLL_S = 0.2


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock for the block (other replicas wait); SQLite serialises writers itself.

    A waiter polls `pg_try_advisory_lock` and holds no transaction between tries (see LOCK_POLL_S)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = lock_key(name)
    with engine.connect() as conn:
        while not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
            conn.rollback()  # no open transaction, hence no snapshot, while waiting
            time.sleep(LOCK_POLL_S)
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            conn.commit()
