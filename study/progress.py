"""Each student's answers, review schedule (FSRS) and mastery, stored beside the conversations.

The database is the interaction log's (Settings.interactions_url): a SQLite file beside the conversations, or
the conversations' PostgreSQL (CHECKPOINT_URI), so every replica sees the same progress. A student is stored
as a keyed hash of their id (HMAC under a salt derived from the server's secret), as conversations are in the
log: the id is the key to the progress, and the table must not hand it out.

Reviews: one FSRS card per student and item (the `fsrs` package: the scheduler Anki uses). A right answer is
rated Good, a wrong one Again: a miss comes back within minutes, a known item after days, then weeks.
Mastery per module and item kind: the share of that module's items of that kind whose latest answer was right
(an item never answered counts as not mastered).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fsrs import Card, Rating, Scheduler
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from core.sql import advisory_lock, new_engine
from study.items import Item

metadata = MetaData()
attempts = Table(
    "study_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("student", String(32), nullable=False, index=True),  # salted HMAC of the student id
    Column("item_id", String(16), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("module", String(100), nullable=False),
    Column("correct", Boolean, nullable=False),
    Column("answer", Text, nullable=False),  # the first ANSWER_KEPT characters: what the class gets wrong
    Column("created_at", Float, nullable=False),  # epoch seconds (UTC)
)
cards = Table(
    "study_cards",
    metadata,
    Column("student", String(32), primary_key=True),
    Column("item_id", String(16), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("module", String(100), nullable=False),
    Column("card", Text, nullable=False),  # fsrs Card.to_dict() as JSON
    Column("due", Float, nullable=False, index=True),  # epoch seconds (UTC)
    Column("correct", Boolean, nullable=False),  # the latest answer
)
ANSWER_KEPT = 200
MISSED_SHOWN = 10


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


@dataclass
class Reviewed:
    """What an answer changed: when the item comes back, and the student's mastery of its module and kind."""

    next_review: str  # ISO 8601, UTC
    mastery: float  # 0..1, this module and kind
    module_mastery: float  # 0..1, the module over all kinds


class StudyProgress:
    """Attempts, FSRS cards and the reports on them; writes go straight to the database (one row each, ~1 ms
    on SQLite), so the answer's response can already report the new schedule."""

    def __init__(self, url: str, salt: bytes | None = None) -> None:
        self.url = url
        self.salt = salt or secrets.token_bytes(32)
        # No fuzzing: the same answers give the same schedule (tests, and two replicas agree).
        self.scheduler = Scheduler(enable_fuzzing=False)
        self.engine: Engine | None = None

    def start(self) -> None:
        """Create the tables (replicas starting together take turns: core.sql.advisory_lock)."""
        self.engine = new_engine(self.url, wal=True)
        with advisory_lock(self.engine, "ai-mentor:study-schema"):
            metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the connections."""
        if self.engine is not None:
            self.engine.dispose()

    @property
    def database(self) -> Engine:
        """The engine, once started."""
        if self.engine is None:
            raise RuntimeError("Study progress is not started.")
        return self.engine

    def student_key(self, student_id: str) -> str:
        """How a student is stored: a keyed hash, never the id itself."""
        return hmac.new(self.salt, student_id.encode(), hashlib.sha256).hexdigest()[:32]

    # ---- an answer ----------------------------------------------------------------------------------------
    def record(
        self, student_id: str, item: Item, correct: bool, answer: str, bank: Iterable[Item], now: float | None = None
    ) -> Reviewed:
        """Store the attempt, move the item's card on (Good or Again), and report the new schedule and mastery."""
        now = time.time() if now is None else now
        student = self.student_key(student_id)
        at = datetime.fromtimestamp(now, timezone.utc)
        with self.database.begin() as conn:
            row = conn.execute(
                select(cards.c.card).where(and_(cards.c.student == student, cards.c.item_id == item.id))
            ).first()
            card = Card.from_dict(json.loads(row.card)) if row else Card(due=at)
            card, _ = self.scheduler.review_card(card, Rating.Good if correct else Rating.Again, review_datetime=at)
            due = card.due.timestamp()
            values = {"card": json.dumps(card.to_dict()), "due": due, "correct": correct}
            if row:
                conn.execute(
                    update(cards).where(and_(cards.c.student == student, cards.c.item_id == item.id)).values(**values)
                )
            else:
                conn.execute(
                    insert(cards).values(student=student, item_id=item.id, kind=item.kind, module=item.module, **values)
                )
            conn.execute(
                insert(attempts).values(
                    student=student,
                    item_id=item.id,
                    kind=item.kind,
                    module=item.module,
                    correct=correct,
                    answer=answer[:ANSWER_KEPT],
                    created_at=now,
                )
            )
        mastery = self.mastery(student_id, bank)
        by_kind = {(m["module"], m["kind"]): m["mastery"] for m in mastery["by_kind"]}
        by_module = {m["module"]: m["mastery"] for m in mastery["by_module"]}
        return Reviewed(_iso(due), by_kind.get((item.module, item.kind), 0.0), by_module.get(item.module, 0.0))

    # ---- a student's progress -----------------------------------------------------------------------------
    def due(self, student_id: str, now: float | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The student's reviews that are due, longest overdue first."""
        now = time.time() if now is None else now
        query = (
            select(cards.c.item_id, cards.c.module, cards.c.kind, cards.c.due)
            .where(and_(cards.c.student == self.student_key(student_id), cards.c.due <= now))
            .order_by(cards.c.due)
            .limit(limit)
        )
        with self.database.connect() as conn:
            rows = conn.execute(query).all()
        return [{"item_id": r.item_id, "module": r.module, "kind": r.kind, "due": _iso(r.due)} for r in rows]

    def upcoming(self, student_id: str, now: float | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The student's next reviews that are not due yet, soonest first."""
        now = time.time() if now is None else now
        query = (
            select(cards.c.item_id, cards.c.module, cards.c.kind, cards.c.due)
            .where(and_(cards.c.student == self.student_key(student_id), cards.c.due > now))
            .order_by(cards.c.due)
            .limit(limit)
        )
        with self.database.connect() as conn:
            rows = conn.execute(query).all()
        return [{"item_id": r.item_id, "module": r.module, "kind": r.kind, "due": _iso(r.due)} for r in rows]

    def mastery(self, student_id: str, bank: Iterable[Item]) -> dict[str, list[dict[str, Any]]]:
        """Per module and kind, and per module: items in the course, answered, right at the latest answer."""
        totals: dict[tuple[str, str], int] = {}
        for item in bank:
            totals[(item.module, item.kind)] = totals.get((item.module, item.kind), 0) + 1
        query = (
            select(cards.c.module, cards.c.kind, func.count(), func.sum(func.cast(cards.c.correct, Integer)))
            .where(cards.c.student == self.student_key(student_id))
            .group_by(cards.c.module, cards.c.kind)
        )
        with self.database.connect() as conn:
            answered = {(r[0], r[1]): (int(r[2]), int(r[3] or 0)) for r in conn.execute(query).all()}
        by_kind = []
        modules: dict[str, list[int]] = {}
        for (module, kind), total in sorted(totals.items()):
            seen, right = answered.get((module, kind), (0, 0))
            by_kind.append(
                {"module": module, "kind": kind, "items": total, "answered": seen, "right": right,
                 "mastery": round(min(right, total) / total, 3)}
            )  # fmt: skip
            counts = modules.setdefault(module, [0, 0, 0])
            counts[0] += total
            counts[1] += seen
            counts[2] += right
        by_module = [
            {"module": m, "items": t, "answered": s, "right": r, "mastery": round(min(r, t) / t, 3)}
            for m, (t, s, r) in sorted(modules.items())
        ]
        return {"by_module": by_module, "by_kind": by_kind}

    # ---- the class, for the instructor ---------------------------------------------------------------------
    def class_stats(self, bank: dict[str, Item]) -> dict[str, Any]:
        """Accuracy per module over every attempt, and the items the class misses most (with their key and
        source, so the instructor sees what was not understood)."""
        per_module = (
            select(
                attempts.c.module,
                func.count(),
                func.sum(func.cast(attempts.c.correct, Integer)),
                func.count(func.distinct(attempts.c.student)),
            )
            .group_by(attempts.c.module)
            .order_by(attempts.c.module)
        )
        misses = func.sum(func.cast(~attempts.c.correct, Integer))
        per_item = (
            select(attempts.c.item_id, attempts.c.module, attempts.c.kind, func.count(), misses)
            .group_by(attempts.c.item_id, attempts.c.module, attempts.c.kind)
            .having(misses > 0)
            .order_by(misses.desc(), func.count(), attempts.c.item_id)
            .limit(MISSED_SHOWN)
        )
        with self.database.connect() as conn:
            modules = conn.execute(per_module).all()
            missed = conn.execute(per_item).all()
        accuracy = [
            {"module": m, "attempts": int(n), "right": int(r or 0), "accuracy": round(int(r or 0) / int(n), 3),
             "students": int(s)}
            for m, n, r, s in modules
        ]  # fmt: skip
        items = []
        for item_id, module, kind, n, wrong in missed:
            item = bank.get(item_id)
            items.append(
                {
                    "item_id": item_id,
                    "module": module,
                    "kind": kind,
                    "attempts": int(n),
                    "missed": int(wrong),
                    "miss_rate": round(int(wrong) / int(n), 3),
                    "prompt": item.body or item.code if item else "",
                    "key": item.key if item else "",
                    "citation": item.citation.as_dict() if item else None,
                }
            )
        return {"accuracy": accuracy, "most_missed": items}
