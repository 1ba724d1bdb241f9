"""The interaction log behind /instructor: every answer (question, answer, sources, timings) and its feedback.

Answers are queued and written by one background thread, so a slow disk never delays an answer. The
database is any SQLAlchemy URL: a SQLite file beside the conversations by default, PostgreSQL for a shared
deployment. Nothing that identifies or authenticates a client is stored: no API key, no header, and a
conversation id only as a keyed hash (HMAC under a salt derived from the server's secret, core/secret.py): the
id is the key to its conversation, and an unsalted hash of a short id could be looked up.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import logging
import queue
import re
import secrets
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from core.sources import SOURCE_KEYS
from core.sql import advisory_lock, sqlalchemy_url
from server.runnables import Answered, location

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
CITATION = re.compile(r"\[(\d{1,2})\]")
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


def _engine(url: str) -> Engine:
    engine = create_engine(sqlalchemy_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        # WAL: the instructor page reads while the writer thread writes, without either waiting.
        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.close()

    return engine


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d")


def _light(sources: list[dict]) -> list[dict]:
    """A source without its full text (the snippet is kept)."""
    return [{k: s.get(k) for k in SOURCE_FIELDS if k in s} for s in sources]


def _row(item: Answered, salt: bytes) -> dict:
    out = item.output
    route = str(out.get("route", ""))
    grounded = bool(out.get("grounded"))
    sources = _light(out.get("sources") or [])
    verified = out.get("verified")
    return {
        "answer_id": str(out["answer_id"]),
        "created_at": item.at,
        "day": _day(item.at),
        "question": item.question,
        "answer": str(out.get("answer", "")),
        "route": route,
        "grounded": grounded,
        "refused": route == "course" and not grounded,
        "module": item.module or "",
        "conversation": hmac.new(salt, item.conversation_id.encode(), hashlib.sha256).hexdigest()[:16],
        "sources": json.dumps(sources),
        "latency_ms": round(item.seconds * 1000, 1),
        "first_token_ms": None if item.first_token_seconds is None else round(item.first_token_seconds * 1000, 1),
        "verified": json.dumps(verified) if verified else None,
    }


class InteractionLog:
    """Queue in, one writer thread out; reads (the instructor's summary and CSV) go to the database."""

    def __init__(
        self,
        url: str,
        retention_days: int = 0,
        closest: Callable[[str, str], list[dict]] | None = None,
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
        self.engine = _engine(self.url)
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

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    # ---- the answering path: a queue put, nothing else -------------------------------------------
    def record(self, item: Answered) -> None:
        """Queue an answer for the writer thread (MentorRunnable.on_answer); never blocks."""
        answer_id = str(item.output.get("answer_id") or "")
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
        assert self.engine is not None
        with self.engine.connect() as conn:
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

    def _row(self, item: Answered) -> dict:
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
        assert self.engine is not None
        rows = [self._row(item) if isinstance(item, Answered) else item for item in items]  # outside the transaction
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
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
                    self._pending.discard(str(item.output.get("answer_id")))

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

    # ---- reads ---------------------------------------------------------------------------------
    def _rows(self, since: float) -> list[dict]:
        assert self.engine is not None
        query = (
            select(interactions, feedback.c.rating, feedback.c.comment)
            .select_from(interactions.outerjoin(feedback, interactions.c.answer_id == feedback.c.answer_id))
            .where(interactions.c.created_at >= since)
            .order_by(interactions.c.created_at.desc())
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(query)]
        for row in rows:
            row["sources"] = json.loads(row["sources"] or "[]")
        return rows

    def summary(self, days: int = 30, now: float | None = None) -> dict:
        """What the instructor page shows, over the last `days` days."""
        now = now or time.time()
        rows = self._rows(now - days * 86400)
        course = [r for r in rows if r["route"] == "course"]
        grounded = [r for r in course if r["grounded"]]
        latencies = [r["latency_ms"] for r in rows]
        first_tokens = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
        return {
            "days": days,
            "totals": {
                "questions": len(rows),
                "course_questions": len(course),
                "grounded": len(grounded),
                "refused": sum(r["refused"] for r in rows),
                "small_talk": sum(r["route"] == "chat" for r in rows),
                "grounded_rate": round(len(grounded) / len(course), 3) if course else None,
                "median_latency_ms": round(statistics.median(latencies)) if latencies else None,
                "median_first_token_ms": round(statistics.median(first_tokens)) if first_tokens else None,
                "thumbs_up": sum(r["rating"] == 1 for r in rows),
                "thumbs_down": sum(r["rating"] == -1 for r in rows),
                "conversations": len({r["conversation"] for r in rows}),
            },
            "per_day": _per_day(rows, days, now),
            "unanswered": _unanswered(rows),
            "top_sources": _top_sources(grounded),
            "comments": [
                {
                    "at": _iso(r["created_at"]),
                    "rating": r["rating"],
                    "comment": r["comment"],
                    "question": r["question"],
                    "answer": r["answer"][:300],
                }
                for r in rows
                if r["comment"]
            ][:100],
        }

    def export_csv(self, days: int = 0) -> str:
        """Every interaction (of the last `days` days; 0 = all), newest first, one row each."""
        rows = self._rows(time.time() - days * 86400 if days else 0.0)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "time_utc",
                "module",
                "route",
                "grounded",
                "refused",
                "latency_ms",
                "first_token_ms",
                "question",
                "answer",
                "sources",
                "rating",
                "comment",
            ]  # fmt: skip
        )
        for r in rows:
            writer.writerow(
                _cells(
                    [
                        _iso(r["created_at"]),
                        r["module"],
                        r["route"],
                        int(r["grounded"]),
                        int(r["refused"]),
                        r["latency_ms"],
                        "" if r["first_token_ms"] is None else r["first_token_ms"],
                        r["question"],
                        r["answer"],
                        "; ".join(location(s) for s in r["sources"]),
                        "" if r["rating"] is None else r["rating"],
                        r["comment"] or "",
                    ]
                )
            )
        return out.getvalue()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _cells(values: Iterable[Any]) -> list[Any]:
    """A spreadsheet runs a cell starting with = + - @ as a formula: a student's text must stay text (OWASP)."""
    return [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in values]


def _per_day(rows: list[dict], days: int, now: float) -> list[dict]:
    today = datetime.fromtimestamp(now, timezone.utc).date()
    counts = {(today - timedelta(days=d)).isoformat(): [0, 0] for d in range(days - 1, -1, -1)}
    for r in rows:
        if r["day"] in counts:
            counts[r["day"]][0] += 1
            counts[r["day"]][1] += bool(r["refused"])
    return [{"day": day, "questions": q, "refused": refused} for day, (q, refused) in counts.items()]


def _unanswered(rows: list[dict]) -> list[dict]:
    """Questions the materials failed: refused, or thumbs down. The same question asked again is one entry."""
    groups: dict[str, dict] = {}
    for r in rows:  # newest first
        reasons = (["not in the materials"] if r["refused"] else []) + (["thumbs down"] if r["rating"] == -1 else [])
        if not reasons:
            continue
        key = " ".join(r["question"].lower().split()).rstrip("?!. ")
        group = groups.setdefault(
            key,
            {
                "question": r["question"],
                "times": 0,
                "last_asked": _iso(r["created_at"]),
                "module": r["module"],
                "reasons": [],
                "closest": [{**s, "location": location(s)} for s in r["sources"][:3]],
                "comments": [],
            },
        )
        group["times"] += 1
        group["reasons"] = sorted(set(group["reasons"]) | set(reasons))
        if r["comment"]:
            group["comments"].append(r["comment"])
    return sorted(groups.values(), key=lambda g: (g["times"], g["last_asked"]), reverse=True)[:100]


def _top_sources(grounded: list[dict]) -> list[dict]:
    """Files grounded answers cite, most cited first (an answer citing a file twice counts once)."""
    counts: dict[str, dict] = {}
    for r in grounded:
        cited = {int(n) for n in CITATION.findall(r["answer"])}
        files = {s["source"]: s.get("title", "") for s in r["sources"] if s.get("n") in cited}
        for source, title in files.items():
            entry = counts.setdefault(source, {"source": source, "title": title, "answers": 0})
            entry["answers"] += 1
    ranked = sorted(counts.values(), key=lambda e: (-e["answers"], e["source"]))
    return ranked[:20]
