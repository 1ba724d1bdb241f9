"""The interaction log behind /instructor: every answer (question, answer, sources, timings) and its feedback.

This module writes it; the instructor's reports read it (classroom/reports.py). Answers are queued and written
by one background thread, so a slow disk never delays an answer. The database is any SQLAlchemy URL: a SQLite
file beside the conversations by default, PostgreSQL for a shared deployment. Nothing that identifies or
authenticates a client is stored: no API key, no header, and a conversation id only as a keyed hash (HMAC
under a salt derived from the server's secret, core/secret.py): the id is the key to its conversation, and an
unsalted hash of a short id could be looked up.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Engine

from core.sources import SOURCE_KEYS
from core.sql import advisory_lock, new_engine
from graph.runnable import Answered

log = logging.getLogger("ai_mentor.interactions")

metadata = MetaData()
interactions = Table(
    "interactions",
    metadata,
    Column("answer_id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False, index=True),  # epoch seconds (UTC)
    Column("day", String(10), nullable=False),  # YYYY-MM-DD (UTC), for questions per day
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("route", String(16), nullable=False),
    Column("grounded", Boolean, nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("module", String(100), nullable=False),
    Column("conversation", String(16), nullable=False),  # salted HMAC prefix of the conversation id
    Column("sources", Text, nullable=False),  # JSON: the sources shown, without their full text
    Column("latency_ms", Float, nullable=False),
    Column("first_token_ms", Float),
    Column("verified", Text),  # JSON of the answer check, when the graph reports one
)
feedback = Table(
    "feedback",
    metadata,
    Column("answer_id", String(32), primary_key=True),  # one verdict per answer: a new vote replaces it
    Column("created_at", Float, nullable=False),
    Column("rating", Integer, nullable=False),  # +1 / -1
    Column("comment", Text, nullable=False),
)

SOURCE_FIELDS = ("n", *SOURCE_KEYS, "score", "snippet")  # a Source without its full text
QUEUE_LIMIT = 10_000  # answers waiting for the disk before new ones are dropped (with a warning)
PRUNE_EVERY = 3600.0
_STOP = object()


@dataclass
class Feedback:
    """A student's verdict on an answer, queued like the answer itself."""

    answer_id: str
    rating: int
    comment: str
    at: float = 0.0


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def conversation_hash(salt: bytes, conversation_id: str) -> str:
    """How the log names a conversation: an HMAC of its id under the log's salt (never the id, which opens it).
    The student page finds its own questions by it (classroom/answered.py)."""
    return hmac.new(salt, conversation_id.encode(), hashlib.sha256).hexdigest()[:16]


def _light(sources: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A source without its full text (the snippet is kept)."""
    return [{k: s[k] for k in SOURCE_FIELDS if k in s} for s in sources]


def _row(item: Answered, salt: bytes) -> dict[str, Any]:
    """The interactions row of an answer: its Answer's fields, the question and the timings."""
    out = item.output
    verified = out["verified"]
    return {
        "answer_id": out["answer_id"],
        "created_at": item.at,
        "day": _day(item.at),
        "question": item.question,
        "answer": out["answer"],
        "route": out["route"],
        "grounded": out["grounded"],
        "refused": out["route"] == "course" and not out["grounded"],
        "module": item.module or "",
        "conversation": conversation_hash(salt, item.conversation_id),
        "sources": json.dumps(_light(out["sources"])),
        "latency_ms": round(item.seconds * 1000, 1),
        "first_token_ms": None if item.first_token_seconds is None else round(item.first_token_seconds * 1000, 1),
        "verified": json.dumps(verified) if verified else None,
    }


class InteractionLog:
    """Queue in, one writer thread out; the reads (classroom/reports.py) go to the database."""

    def __init__(
        self,
        url: str,
        retention_days: int = 0,
        closest: Callable[[str, str], Iterable[Mapping[str, Any]]] | None = None,
        salt: bytes | None = None,
    ) -> None:
        self.url = url
        self.salt = salt or secrets.token_bytes(32)  # no salt given (tests): one per log, never stored
        self.retention_days = retention_days
        # For a refusal that came with no sources: finds the nearest notes, so the instructor sees what
        # the materials hold closest to the question (run by the writer thread, never by the answer).
        self.closest = closest
        self.engine: Engine | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_LIMIT)
        self._pending: set[str] = set()  # answer ids queued but not yet written
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        """Create the tables, prune what is past retention, start the writer thread."""
        self.engine = new_engine(self.url, wal=True)
        # Two replicas starting at once against one PostgreSQL both saw no table and both created it: the
        # second failed with DuplicateTable and its server exited (tests/integration/test_replicas.py).
        with advisory_lock(self.engine, "ai-mentor:interactions-schema"):
            metadata.create_all(self.engine)
        self.prune()
        self._thread = threading.Thread(target=self._run, name="interaction-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write what is queued, then stop (the server's shutdown waits for it)."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
            self._thread = None
        if self.engine is not None:
            self.engine.dispose()

    @property
    def database(self) -> Engine:
        """The database the log writes, open once started: the instructor's reports read it."""
        if self.engine is None:
            raise RuntimeError("The interaction log is not started.")
        return self.engine

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    # ---- the answering path: a queue put, nothing else -------------------------------------------
    def record(self, item: Answered) -> None:
        """Queue an answer for the writer thread (MentorRunnable.on_answer); never blocks."""
        answer_id = item.output["answer_id"]
        if not answer_id:
            return
        item.at = item.at or time.time()
        with self._lock:
            self._pending.add(answer_id)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self._pending.discard(answer_id)
            log.warning("interaction log queue full (%s waiting): answer %s not recorded", QUEUE_LIMIT, answer_id)

    def add_feedback(self, answer_id: str, rating: int, comment: str) -> bool:
        """Queue a verdict on an answer; False when no such answer was recorded."""
        if not self.known(answer_id):
            return False
        self._queue.put(Feedback(answer_id, rating, comment, time.time()))
        return True

    def known(self, answer_id: str) -> bool:
        """Whether this answer was recorded (or is queued to be)."""
        with self._lock:
            if answer_id in self._pending:
                return True
        with self.database.connect() as conn:
            found = conn.execute(select(interactions.c.answer_id).where(interactions.c.answer_id == answer_id))
            return found.first() is not None

    # ---- the writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        next_prune = time.monotonic() + PRUNE_EVERY
        while True:
            try:
                items = [self._queue.get(timeout=60)]
            except queue.Empty:
                items = []
            while items and len(items) < 256:  # everything already waiting goes in one transaction
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(i is _STOP for i in items)
            self._write([i for i in items if isinstance(i, Answered | Feedback)])
            for waiter in (i for i in items if isinstance(i, threading.Event)):
                waiter.set()
            if stop:
                return
            if time.monotonic() > next_prune:
                next_prune = time.monotonic() + PRUNE_EVERY
                self.prune()

    def _row(self, item: Answered) -> dict[str, Any]:
        row = _row(item, self.salt)
        if row["refused"] and row["sources"] == "[]" and self.closest is not None:
            try:
                row["sources"] = json.dumps(_light(self.closest(item.question, item.module)))
            except Exception:  # the store being busy or gone must not lose the record
                log.warning("closest sources for a refused question not found", exc_info=True)
        return row

    def _write(self, items: list[Answered | Feedback]) -> None:
        if not items:
            return
        rows = [self._row(item) if isinstance(item, Answered) else item for item in items]  # outside the transaction
        for attempt in (1, 2):
            try:
                with self.database.begin() as conn:
                    for row in rows:
                        if isinstance(row, dict):
                            conn.execute(insert(interactions).values(**row))
                        else:
                            conn.execute(delete(feedback).where(feedback.c.answer_id == row.answer_id))
                            conn.execute(
                                insert(feedback).values(
                                    answer_id=row.answer_id, created_at=row.at, rating=row.rating, comment=row.comment
                                )
                            )
                break
            except Exception:  # a full disk or a lost database server must not kill the writer thread
                if attempt == 2:
                    log.exception("could not write %d interactions; they are lost", len(items))
                else:
                    time.sleep(1)
        with self._lock:
            for item in items:
                if isinstance(item, Answered):
                    self._pending.discard(item.output["answer_id"])

    def prune(self) -> int:
        """Delete what is older than the retention period (0 = keep everything)."""
        if not self.retention_days or self.engine is None:
            return 0
        cutoff = time.time() - self.retention_days * 86400
        with self.engine.begin() as conn:
            removed = conn.execute(delete(interactions).where(interactions.c.created_at < cutoff)).rowcount
            conn.execute(delete(feedback).where(feedback.c.answer_id.not_in(select(interactions.c.answer_id))))
        if removed:
            log.info("interaction log: %d interactions older than %d days deleted", removed, self.retention_days)
        return int(removed or 0)
