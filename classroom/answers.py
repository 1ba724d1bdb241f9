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

An answer may link one file of the course (`file`): a source the ingest records hold (never a path of its own:
the caller says whether a source is a course file, and nothing else is accepted), named in the published file's closing
"See also" line, a link the file view signs (server/course_files.py).
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
from urllib.parse import quote

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import Connection, Engine

from core.sql import advisory_lock, new_engine

State = Literal["draft", "published", "retracted"]
MAX_ANSWER_CHARS = 20_000
MAX_QUESTION_CHARS = 4_000
MAX_FILE_CHARS = 400
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
# The course file an answer links, in a table of its own (created when missing, as the others: a database
# written before links existed needs no migration); no row: no link.
file_table = Table(
    "instructor_answer_file",
    metadata,
    Column("answer_id", String(16), primary_key=True),
    Column("file", String(MAX_FILE_CHARS), nullable=False),  # a source as the ingest records hold it
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
    file: str = ""  # the course file it links ("" none): a source of the ingest records when it was written

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
    text = f'---\ntitle: "{title}"\n---\n\n# {_one_line(answer.question)}\n\n{answer.body.strip()}\n'
    return text + (f"\n{see_also(answer.file)}\n" if answer.file else "")


def see_also(file: str) -> str:
    """The published file's last line when the answer links a course file: a Markdown link to the file's page
    (/files/<source>, signed when the file view renders it). The label is the path, its brackets escaped."""
    label = re.sub(r"([\\\[\]`*_<>])", r"\\\1", file)
    return f"See also: [{label}](/files/{quote(file)})"


class AnswerBook:
    """The answers and their audit trail in one database; their published files in one folder."""

    def __init__(
        self,
        url: str,
        folder: Path,
        modules: Callable[[], Iterable[str]],
        is_course_file: Callable[[str], bool] = lambda _source: False,
    ) -> None:
        self.url = url
        self.folder = folder
        self.modules = modules  # the course's modules, asked at each write (loaders' manifest in the server)
        # Whether a source is a file of the course that can be opened (in the server: the ingest records hold it
        # and it still lies inside the folder it was ingested from), asked when an answer links one.
        self.is_course_file = is_course_file
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
        query = _joined().order_by(answers_table.c.updated.desc())
        with self.database.connect() as conn:
            return [_answer(row._asdict()) for row in conn.execute(query)]

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
    def create(
        self, question: str, body: str, module: str, who: str, asked: str = "", file: str = ""
    ) -> InstructorAnswer:
        """A new draft; `asked`: the student's question it answers, as the missing-material list showed it;
        `file`: the course file it links ("" none)."""
        fields = self._checked(question, body, module, file)
        asked = asked.strip()[:MAX_QUESTION_CHARS]
        if "\x00" in asked:
            raise AnswerError("asked", "The question asked holds a NUL character.")
        now = time.time()
        answer = InstructorAnswer(secrets.token_hex(8), **fields, state="draft", created=now, updated=now,
                                  published=None, source="")  # fmt: skip
        with self.database.begin() as conn:
            self._insert(conn, answer)
            if asked:
                conn.execute(insert(asked_table).values(answer_id=answer.answer_id, question=asked))
            self._audit(conn, answer.answer_id, who, "create", {**fields, "asked": asked} if asked else fields)
        return answer

    def edit(self, answer_id: str, question: str, body: str, module: str, who: str, file: str = "") -> InstructorAnswer:
        """Replace an answer's text, scope and linked file (the last write wins). A published answer's file is
        rewritten at once (moved when its module changed): the caller re-ingests the folder."""
        fields = self._checked(question, body, module, file)
        with self.database.begin() as conn:
            answer = self._get(conn, answer_id)
            old = answer.source
            answer.question, answer.body, answer.module = fields["question"], fields["body"], fields["module"]
            answer.file = fields["file"]
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
    def _checked(self, question: str, body: str, module: str, file: str = "") -> dict[str, str]:
        question, body, module, file = question.strip(), body.strip(), module.strip(), file.strip()
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
        if file:
            # Only a file the course has ingested, by its recorded source: a path is never opened here, so one
            # outside the ingest roots ('../x', '/etc/passwd') is simply not a course file. An answer links
            # course material, not another answer.
            if Path(file).name.startswith(FILE_PREFIX):
                raise AnswerError("file", "An answer links a file of the course, not another instructor answer.")
            if len(file) > MAX_FILE_CHARS or "\x00" in file or not self.is_course_file(file):
                shown = file if len(file) <= 120 else file[:117] + "..."
                raise AnswerError("file", f"{shown!r} is not a file of the course (one the course has ingested).")
        return {"question": question, "body": body, "module": module, "file": file}

    def _get(self, conn: Connection, answer_id: str) -> InstructorAnswer:
        row = conn.execute(_joined().where(answers_table.c.answer_id == answer_id)).first()
        if row is None:
            raise UnknownAnswer(answer_id)
        return _answer(row._asdict())

    def _insert(self, conn: Connection, answer: InstructorAnswer) -> None:
        values = answer.to_dict()
        del values["file"]
        conn.execute(insert(answers_table).values(**values))
        if answer.file:
            conn.execute(insert(file_table).values(answer_id=answer.answer_id, file=answer.file))

    def _save(self, conn: Connection, answer: InstructorAnswer) -> None:
        values = answer.to_dict()
        del values["answer_id"], values["file"]
        conn.execute(update(answers_table).where(answers_table.c.answer_id == answer.answer_id).values(**values))
        conn.execute(delete(file_table).where(file_table.c.answer_id == answer.answer_id))
        if answer.file:
            conn.execute(insert(file_table).values(answer_id=answer.answer_id, file=answer.file))

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


def _joined() -> Any:
    """Answers with the file each links (None when it links none)."""
    join = answers_table.outerjoin(file_table, answers_table.c.answer_id == file_table.c.answer_id)
    return select(answers_table, file_table.c.file).select_from(join)


def _answer(row: dict[str, Any]) -> InstructorAnswer:
    return InstructorAnswer(**{**row, "file": row.get("file") or ""})
