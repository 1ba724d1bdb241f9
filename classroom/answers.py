"""The instructor's answers to questions the materials miss: drafts, published answers and retracted ones.

An answer is kept in the interaction log's database (SQLite or PostgreSQL, core/sql.py) with an audit row for
every write: who (a keyed hash of the API key, never the key), when, what. Publishing writes it as a Markdown
file into the instructor-answers folder, itself an ingest root, so it becomes course material like any other
file (backups, incremental ingest, deletes and replicas need no new path); retracting deletes the file. The
caller ingests the folder after each of them (server/instructor_answers.py, under the server's ingest lock):
this module neither ingests nor knows of HTTP.

In the folder a module's answers lie in the module's subfolder, the course's at its top, so ingesting the
folder gives each file its module as ingest derives modules (loaders/ingest.py `module_of`: the first folder
level below the ingested folder).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection, Engine

from core.sql import advisory_lock, new_engine

State = Literal["draft", "published", "retracted"]
MAX_ANSWER_CHARS = 20_000
MAX_QUESTION_CHARS = 4_000
ID_PATTERN = r"^[0-9a-f]{16}$"
FILE_PREFIX = "instructor-answer-"

metadata = MetaData()
answers_table = Table(
    "instructor_answers",
    metadata,
    Column("answer_id", String(16), primary_key=True),
    Column("question", Text, nullable=False),
    Column("body", Text, nullable=False),  # Markdown, as the instructor wrote it (rendered only when sanitised)
    Column("module", String(100), nullable=False),  # "" = the whole course
    Column("state", String(16), nullable=False),
    Column("created", Float, nullable=False),  # epoch seconds (UTC)
    Column("updated", Float, nullable=False),  # the last write wins; this says when it was
    Column("published", Float),  # when first published (the date its citation shows); None until then
    Column("source", String(400), nullable=False),  # the file, relative to the folder; "" unless published
)
audit_table = Table(
    "instructor_answer_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("answer_id", String(16), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("who", String(64), nullable=False),  # keyed hash of the API key that wrote (server/security.py)
    Column("action", String(16), nullable=False),  # create, edit, publish, retract
    Column("what", Text, nullable=False),  # JSON: the fields as written
)
# The student question an answer was written for (the missing-material row's "Answer" button), kept apart from
# the answer's own question, which the instructor may reword: the students who asked it are found by this one.
asked_table = Table(
    "instructor_answer_asked",
    metadata,
    Column("answer_id", String(16), primary_key=True),
    Column("question", Text, nullable=False),
)


class AnswerError(ValueError):
    """Input the book refuses (an empty or too long answer, a module the course does not have): a 422."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class UnknownAnswer(LookupError):
    """No answer has this id: a 404."""


@dataclass
class InstructorAnswer:
    """One answer as the page lists it."""

    answer_id: str
    question: str
    body: str
    module: str
    state: State
    created: float
    updated: float
    published: float | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON the routes send."""
        return asdict(self)


def title_of(published: float) -> str:
    """How a published answer is cited: "Instructor answer, 2026-12-07" (UTC)."""
    return f"Instructor answer, {datetime.fromtimestamp(published, timezone.utc):%Y-%m-%d}"


def _one_line(text: str) -> str:
    """A question as one heading line: no line breaks, no leading '#' that would change its level."""
    return re.sub(r"\s+", " ", text).strip().lstrip("#").strip()


def markdown_file(answer: InstructorAnswer) -> str:
    """The published file: front matter naming it (its title is the citation), the question as its heading,
    so retrieval and the answerability check read the question's words too, then the answer."""
    title = title_of(answer.published or answer.updated)
    return f'---\ntitle: "{title}"\n---\n\n# {_one_line(answer.question)}\n\n{answer.body.strip()}\n'


class AnswerBook:
    """The answers and their audit trail in one database; their published files in one folder."""

    def __init__(self, url: str, folder: Path, modules: Callable[[], Iterable[str]]) -> None:
        self.url = url
        self.folder = folder
        self.modules = modules  # the course's modules, asked at each write (loaders' manifest in the server)
        self.engine: Engine | None = None

    def start(self) -> None:
        """Open the database and create the tables (replicas starting together create them once)."""
        self.engine = new_engine(self.url, wal=True)
        with advisory_lock(self.engine, "ai-mentor:instructor-answers-schema"):
            metadata.create_all(self.engine)

    def close(self) -> None:
        """Release the database's connections."""
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    @property
    def database(self) -> Engine:
        """The open database."""
        if self.engine is None:
            raise RuntimeError("The instructor answers are not opened (AnswerBook.start).")
        return self.engine

    # ---- reads ------------------------------------------------------------------------------------
    def all(self) -> list[InstructorAnswer]:
        """Every answer, the most recently written first."""
        query = select(answers_table).order_by(answers_table.c.updated.desc())
        with self.database.connect() as conn:
            return [InstructorAnswer(**row._asdict()) for row in conn.execute(query)]

    def get(self, answer_id: str) -> InstructorAnswer:
        """One answer, or UnknownAnswer."""
        with self.database.connect() as conn:
            return self._get(conn, answer_id)

    def audit(self, answer_id: str) -> list[dict[str, Any]]:
        """Every write of one answer, oldest first."""
        t = audit_table.c
        query = select(t.at, t.who, t.action, t.what).where(t.answer_id == answer_id).order_by(t.id)
        with self.database.connect() as conn:
            return [{**row._asdict(), "what": json.loads(row.what)} for row in conn.execute(query)]

    def asked(self) -> dict[str, str]:
        """The student question each answer was written for, by answer id (answers written from scratch: none)."""
        with self.database.connect() as conn:
            return {row.answer_id: row.question for row in conn.execute(select(asked_table))}

    # ---- writes (each one audited) ----------------------------------------------------------------
    def create(self, question: str, body: str, module: str, who: str, asked: str = "") -> InstructorAnswer:
        """A new draft; `asked`: the student's question it answers, as the missing-material list showed it."""
        fields = self._checked(question, body, module)
        asked = asked.strip()[:MAX_QUESTION_CHARS]
        if "\x00" in asked:
            raise AnswerError("asked", "The question asked holds a NUL character.")
        now = time.time()
        answer = InstructorAnswer(secrets.token_hex(8), **fields, state="draft", created=now, updated=now,
                                  published=None, source="")  # fmt: skip
        with self.database.begin() as conn:
            conn.execute(insert(answers_table).values(**answer.to_dict()))
            if asked:
                conn.execute(insert(asked_table).values(answer_id=answer.answer_id, question=asked))
            self._audit(conn, answer.answer_id, who, "create", {**fields, "asked": asked} if asked else fields)
        return answer

    def edit(self, answer_id: str, question: str, body: str, module: str, who: str) -> InstructorAnswer:
        """Replace an answer's text and scope (the last write wins). A published answer's file is rewritten at
        once (moved when its module changed): the caller re-ingests the folder."""
        fields = self._checked(question, body, module)
        with self.database.begin() as conn:
            answer = self._get(conn, answer_id)
            old = answer.source
            answer.question, answer.body, answer.module = fields["question"], fields["body"], fields["module"]
            answer.updated = time.time()
            if answer.state == "published":
                answer.source = self._write_file(answer)
                if old and old != answer.source:
                    self._remove_file(old)
            self._save(conn, answer)
            self._audit(conn, answer_id, who, "edit", fields)
        return answer

    def publish(self, answer_id: str, who: str) -> InstructorAnswer:
        """Write the answer's file (the same bytes when published again: ingest then finds nothing new)."""
        with self.database.begin() as conn:
            answer = self._get(conn, answer_id)
            if answer.state != "published":
                answer.state, answer.published = "published", time.time()
                answer.updated = answer.published
            answer.source = self._write_file(answer)
            self._save(conn, answer)
            self._audit(conn, answer_id, who, "publish", {"source": answer.source})
        return answer

    def retract(self, answer_id: str, who: str) -> InstructorAnswer:
        """Delete the answer's file (the caller's ingest then deletes its chunks and records); the row stays,
        retracted, for the audit trail. Retracting twice changes nothing more."""
        with self.database.begin() as conn:
            answer = self._get(conn, answer_id)
            if answer.source:
                self._remove_file(answer.source)
            answer.state, answer.source, answer.updated = "retracted", "", time.time()
            self._save(conn, answer)
            self._audit(conn, answer_id, who, "retract", {})
        return answer

    # ---- helpers ----------------------------------------------------------------------------------
    def _checked(self, question: str, body: str, module: str) -> dict[str, str]:
        question, body, module = question.strip(), body.strip(), module.strip()
        if not question:
            raise AnswerError("question", "The question is empty.")
        if len(question) > MAX_QUESTION_CHARS:
            raise AnswerError("question", f"The question is longer than {MAX_QUESTION_CHARS} characters.")
        if not body:
            raise AnswerError("body", "The answer is empty.")
        if len(body) > MAX_ANSWER_CHARS:
            raise AnswerError("body", f"The answer is longer than {MAX_ANSWER_CHARS} characters.")
        if "\x00" in question + body:
            raise AnswerError("body", "The text holds a NUL character.")
        # Only a module the course has: its name becomes a folder here, so nothing else may ('..', 'a/b').
        if module and module not in set(self.modules()):
            raise AnswerError("module", f"The course has no module {module!r}.")
        return {"question": question, "body": body, "module": module}

    def _get(self, conn: Connection, answer_id: str) -> InstructorAnswer:
        row = conn.execute(select(answers_table).where(answers_table.c.answer_id == answer_id)).first()
        if row is None:
            raise UnknownAnswer(answer_id)
        return InstructorAnswer(**row._asdict())

    def _save(self, conn: Connection, answer: InstructorAnswer) -> None:
        values = answer.to_dict()
        del values["answer_id"]
        conn.execute(update(answers_table).where(answers_table.c.answer_id == answer.answer_id).values(**values))

    def _audit(self, conn: Connection, answer_id: str, who: str, action: str, what: dict[str, Any]) -> None:
        row = {"answer_id": answer_id, "at": time.time(), "who": who, "action": action, "what": json.dumps(what)}
        conn.execute(insert(audit_table).values(**row))

    def _write_file(self, answer: InstructorAnswer) -> str:
        """Write (atomically: ingest never reads half a file) and return the source, relative to the folder."""
        name = f"{FILE_PREFIX}{answer.answer_id}.md"
        source = f"{answer.module}/{name}" if answer.module else name
        path = self.folder / source
        path.parent.mkdir(parents=True, exist_ok=True)
        text = markdown_file(answer)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return source  # unchanged: its fingerprint stays, ingest skips it
        partial = path.with_name(f".{name}.{secrets.token_hex(4)}")  # a dot file: ingest skips it
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        return source

    def _remove_file(self, source: str) -> None:
        path = self.folder / source
        path.unlink(missing_ok=True)
        if path.parent != self.folder and path.parent.is_dir() and not any(path.parent.iterdir()):
            path.parent.rmdir()  # an empty module folder left behind would only be noise
