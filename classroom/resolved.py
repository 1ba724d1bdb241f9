"""Missing-material rows the instructor has dealt with: marked resolved (or reopened), so /instructor's list
holds only what still needs work.

Kept beside the instructor's answers, in the interaction log's database (core/sql.py), in tables of their own
(created when missing, so an existing database needs no migration), with an audit row for every write as the
answers have: who (a keyed hash of the API key), when, what. A row is named by its key (classroom/reports.py
`row_key`); a row resolved before its question was asked again is open again, so a new failure is never hidden.
No HTTP here (server/instructor_answers.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine

from core.sql import advisory_lock

MAX_KEY_CHARS = 4_000

metadata = MetaData()
resolved_table = Table(
    "instructor_resolved",
    metadata,
    # A hash of the key as the primary key: a key is as long as a question, too long for some databases' indexes.
    Column("key_hash", String(64), primary_key=True),
    Column("row_key", Text, nullable=False),
    Column("at", Float, nullable=False),  # epoch seconds (UTC): when it was marked resolved
    Column("who", String(64), nullable=False),
)
resolved_audit_table = Table(
    "instructor_resolved_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key_hash", String(64), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("who", String(64), nullable=False),
    Column("resolved", Boolean, nullable=False),  # True: marked resolved; False: reopened
    Column("what", Text, nullable=False),  # JSON: {"key": ...}
)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start(engine: Engine) -> None:
    """Create the tables when missing (replicas starting together create them once)."""
    with advisory_lock(engine, "ai-mentor:instructor-resolved-schema"):
        metadata.create_all(engine)


def mark(engine: Engine, key: str, resolved: bool, who: str) -> dict[str, Any]:
    """Mark a row resolved (again: its time moves on) or reopen it; audited either way, even when it changes
    nothing, since the instructor's intent is what the trail records."""
    now = time.time()
    digest = _hash(key)
    with engine.begin() as conn:
        conn.execute(delete(resolved_table).where(resolved_table.c.key_hash == digest))
        if resolved:
            conn.execute(insert(resolved_table).values(key_hash=digest, row_key=key, at=now, who=who))
        audit = {"key_hash": digest, "at": now, "who": who, "resolved": resolved, "what": json.dumps({"key": key})}
        conn.execute(insert(resolved_audit_table).values(**audit))
    return {"key": key, "resolved": resolved, "at": now}


def resolved_at(engine: Engine) -> dict[str, float]:
    """When each resolved row was marked resolved, by row key."""
    with engine.connect() as conn:
        return {row.row_key: row.at for row in conn.execute(select(resolved_table.c.row_key, resolved_table.c.at))}


def audit(engine: Engine, key: str) -> list[dict[str, Any]]:
    """Every resolve and reopen of one row, oldest first."""
    t = resolved_audit_table.c
    query = select(t.at, t.who, t.resolved).where(t.key_hash == _hash(key)).order_by(t.id)
    with engine.connect() as conn:
        return [row._asdict() for row in conn.execute(query)]
