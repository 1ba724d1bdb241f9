"""What the instructor's published answers did: which students' failed questions they now answer (the marker
on /chat), and how often answers to students cited each one and how those answers were rated (/instructor).

Reads the interaction log (classroom/interactions.py) and the answer book (classroom/answers.py); writes
nothing. A student's conversations are found by the log's keyed hash of their ids (`conversation_hash`): the
student sends the ids their browser holds, so they learn of their own questions only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from classroom.answers import FILE_PREFIX, InstructorAnswer, title_of
from classroom.interactions import feedback, interactions
from core.sources import cited
from core.text import stems, terms


def question_key(text: str) -> str:
    """A question's wording as a missing-material row lists it (its "also asked as"): case, spacing and a closing
    ?!. ignored."""
    return " ".join(text.lower().split()).rstrip("?!. ")


def row_key(question: str, language: str = "english") -> str:
    """The missing-material row a question falls in (classroom/reports.py): the stems of its content terms, so
    "What is a list?" and "what are lists" are one row; a question of no content term keeps its exact key."""
    content = sorted(set(stems(terms(question, language), language)))
    return " ".join(content) if content else question_key(question)


def _answering(
    published: Iterable[InstructorAnswer], asked: Mapping[str, str], language: str
) -> dict[str, InstructorAnswer]:
    """Each row a published answer answers (its own question's, and that of the student's it was written for),
    by row key, so every wording the row grouped is answered; two answers to one row: the one published last."""
    by_key: dict[str, InstructorAnswer] = {}
    for answer in sorted(published, key=lambda a: a.published or 0.0):
        if answer.state != "published" or not answer.source:
            continue
        for question in (answer.question, asked.get(answer.answer_id, "")):
            if question.strip():
                by_key[row_key(question, language)] = answer
    return by_key


def answered_questions(
    engine: Engine,
    ids_by_hash: Mapping[str, str],
    answers: Iterable[InstructorAnswer],
    asked: Mapping[str, str],
    language: str = "english",
) -> list[dict[str, Any]]:
    """The questions of these conversations that the materials failed (refused, or rated not helpful) and that a
    published answer now answers: conversation id, the question as the student asked it, and the answer's
    id, title and file. A retracted answer is not published, so its questions drop out."""
    by_key = _answering(answers, asked, language)
    if not by_key or not ids_by_hash:
        return []
    t = interactions.c
    query = (
        select(t.conversation, t.question)
        .select_from(interactions.outerjoin(feedback, t.answer_id == feedback.c.answer_id))
        .where(t.conversation.in_(list(ids_by_hash)), or_(t.refused, feedback.c.rating == -1))
        .order_by(t.created_at)
    )
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            answer = by_key.get(row_key(row.question, language))
            if answer is None:
                continue
            found[(row.conversation, question_key(row.question))] = {
                "conversation_id": ids_by_hash[row.conversation],
                "question": row.question,
                "answer_id": answer.answer_id,
                "title": title_of(answer.published or answer.updated),
                "source": answer.source,
            }
    return list(found.values())


def usage(engine: Engine, sources: Iterable[str]) -> dict[str, dict[str, int]]:
    """For each of these files (published answers' sources): how many recorded answers cited it, and how many
    of those students rated helpful and not helpful. Only answers whose sources name an instructor answer's file
    are read (a LIKE on the stored JSON), so this stays cheap on a long log."""
    counts = {source: {"cited": 0, "helpful": 0, "not_helpful": 0} for source in sources}
    if not counts:
        return counts
    t = interactions.c
    query = (
        select(t.answer, t.sources, feedback.c.rating)
        .select_from(interactions.outerjoin(feedback, t.answer_id == feedback.c.answer_id))
        .where(t.grounded, t.sources.contains(FILE_PREFIX))
    )
    with engine.connect() as conn:
        for row in conn.execute(query):
            numbers = set(cited(row.answer))
            files = {s.get("source") for s in json.loads(row.sources or "[]") if s.get("n") in numbers}
            for source in files & counts.keys():
                entry = counts[source]
                entry["cited"] += 1
                entry["helpful"] += row.rating == 1
                entry["not_helpful"] += row.rating == -1
    return counts
