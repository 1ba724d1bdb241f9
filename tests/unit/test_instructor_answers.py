"""The instructor's answers: the book (classroom/answers.py) on a temporary SQLite file and folder, and its routes
in-process with ingest replaced by a recorder (the real ingest is tests/integration/test_instructor_answers.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from classroom.answers import AnswerBook, AnswerError, UnknownAnswer, markdown_file
from loaders.ingest import discover, module_of
from loaders.parsers import parse_file

INSTRUCTOR_KEY = "teacher-key-91be"
STUDENT_KEY = "student-key-7c1d"
QUESTION = "What is the course's late-submission policy?"
BODY = "Late work loses **10 %** per day.\n\n```python\ndays_late = 2\n```"


@pytest.fixture
def book(tmp_path: Path):
    answers = AnswerBook(str(tmp_path / "interactions.sqlite"), tmp_path / "course" / "instructor_answers",
                         lambda: ["week01", "week02"])  # fmt: skip
    answers.start()
    yield answers
    answers.close()


def test_a_draft_is_published_as_a_cited_file_in_its_module_and_retracted(book, tmp_path):
    draft = book.create(QUESTION, BODY, "week02", who="abc")
    assert draft.state == "draft" and draft.source == "" and not list(book.folder.rglob("*.md"))
    published = book.publish(draft.answer_id, who="abc")
    path = book.folder / published.source
    assert published.state == "published" and path.is_file()
    assert published.source == f"week02/instructor-answer-{draft.answer_id}.md"
    assert module_of(published.source) == "week02", "ingesting the folder gives the file its module"
    parsed = parse_file(path)
    assert parsed.title.startswith("Instructor answer, 20") and QUESTION in parsed.sections[0].headings
    assert "10 %" in path.read_text() and "late-submission" in path.read_text()

    again = book.publish(draft.answer_id, who="def")
    assert again.source == published.source and again.published == published.published, "idempotent"
    assert path.read_text() == markdown_file(again)

    retracted = book.retract(draft.answer_id, who="abc")
    assert retracted.state == "retracted" and not path.exists() and not path.parent.exists()
    assert book.get(draft.answer_id).state == "retracted"
    actions = [(row["action"], row["who"]) for row in book.audit(draft.answer_id)]
    assert actions == [("create", "abc"), ("publish", "abc"), ("publish", "def"), ("retract", "abc")]


def test_a_course_wide_answer_lies_at_the_top_and_an_edit_moves_a_published_file(book):
    answer = book.publish(book.create(QUESTION, BODY, "", who="").answer_id, who="")
    top = book.folder / answer.source
    assert "/" not in answer.source and module_of(answer.source) == "" and top.is_file()
    moved = book.edit(answer.answer_id, QUESTION, "Late work is not accepted.", "week01", who="x")
    assert moved.source.startswith("week01/") and not top.exists()
    assert "not accepted" in (book.folder / moved.source).read_text()
    assert moved.updated >= answer.updated and book.all()[0].answer_id == answer.answer_id


@pytest.mark.parametrize(
    ("question", "body", "module", "field"),
    [
        (QUESTION, "   \n ", "", "body"),
        (QUESTION, "x" * 20_001, "", "body"),
        ("  ", BODY, "", "question"),
        (QUESTION, BODY, "week09", "module"),
        (QUESTION, BODY, "..", "module"),
        (QUESTION, BODY, "../../etc", "module"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(book, question, body, module, field):
    with pytest.raises(AnswerError) as refused:
        book.create(question, body, module, who="")
    assert refused.value.field == field and book.all() == []


def test_unknown_ids_and_last_write_wins(book):
    with pytest.raises(UnknownAnswer):
        book.publish("0" * 16, who="")
    answer = book.create(QUESTION, BODY, "", who="a")
    book.edit(answer.answer_id, QUESTION, "first instructor", "", who="a")
    book.edit(answer.answer_id, QUESTION, "second instructor", "", who="b")
    assert book.get(answer.answer_id).body == "second instructor"
    assert [r["what"]["body"] for r in book.audit(answer.answer_id)][1:] == ["first instructor", "second instructor"]


def test_hostile_markdown_is_stored_as_written_and_the_question_stays_one_heading(book):
    hostile = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> Late work loses 10 %.'
    answer = book.publish(book.create("# Late?\nwork\n## policy", hostile, "", who="").answer_id, who="")
    assert book.get(answer.answer_id).body == hostile
    text = (book.folder / answer.source).read_text()
    assert "\n# Late? work ## policy\n" in text and text.count("\n#") == 1


def test_the_answers_folder_is_skipped_by_its_parent_folders_ingest(tmp_path):
    root = tmp_path / "course"
    (root / "week01").mkdir(parents=True)
    (root / "week01" / "a.md").write_text("# A\n\ntext\n")
    (root / "instructor_answers" / "week01").mkdir(parents=True)
    (root / "instructor_answers" / "week01" / "instructor-answer-0123456789abcdef.md").write_text("# Q\n\nA\n")
    found, skipped = discover(root, {str((root / "instructor_answers").resolve())})
    assert [c.source for c in found] == ["week01/a.md"]
    assert [(s.source, s.reason) for s in skipped] == [("instructor_answers", "ingested on its own")]
    found, _ = discover(root / "instructor_answers")
    assert [(c.source, c.module) for c in found] == [("week01/instructor-answer-0123456789abcdef.md", "week01")]


# ---- the routes --------------------------------------------------------------------------------------------


@pytest.fixture
def ingests(monkeypatch) -> list[Path]:
    import loaders.ingest

    folders: list[Path] = []

    def ingest(directory, **kwargs):  # type: ignore[no-untyped-def]
        folders.append(directory)
        return loaders.ingest.IngestReport(str(directory), "c")

    monkeypatch.setattr(loaders.ingest, "ingest_directory", ingest)
    return folders


def test_the_routes_write_publish_and_retract_under_the_instructors_key(make_client, course, tmp_path, ingests):
    client = make_client(MENTOR_API_KEY=STUDENT_KEY, INSTRUCTOR_API_KEY=INSTRUCTOR_KEY,
                         INGEST_ROOTS=f'["{course}"]')  # fmt: skip
    teacher, student = {"X-API-Key": INSTRUCTOR_KEY}, {"X-API-Key": STUDENT_KEY}
    body = {"question": QUESTION, "body": BODY + "\n<script>window.pwned = 1</script>", "module": "week02"}
    for method, path in [("GET", ""), ("POST", ""), ("PUT", "/0123456789abcdef"), ("DELETE", "/0123456789abcdef"),
                         ("POST", "/0123456789abcdef/publish")]:  # fmt: skip
        refused = client.request(method, "/api/instructor/answers" + path, json=body, headers=student)
        assert refused.status_code == 403, (method, path)
    created = client.post("/api/instructor/answers", json=body, headers=teacher)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["state"] == "draft" and "<script" not in answer["html"] and "<strong>10 %</strong>" in answer["html"]
    answer_id = answer["answer_id"]

    published = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher)
    assert published.status_code == 200, published.text
    folder = (course / "instructor_answers").resolve()
    assert ingests == [folder] and (folder / published.json()["source"]).is_file()
    again = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher)
    assert again.json()["source"] == published.json()["source"], "publishing twice: the same file"
    edited = client.put(f"/api/instructor/answers/{answer_id}", json={**body, "body": "Two days."}, headers=teacher)
    assert edited.status_code == 200 and edited.json()["updated"] >= published.json()["updated"]
    assert len(ingests) == 3, "an edit of a published answer is ingested at once"
    listed = client.get("/api/instructor/answers", headers=teacher).json()["answers"]
    assert [a["body"] for a in listed] == ["Two days."]
    retracted = client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher)
    assert retracted.json()["state"] == "retracted" and not list(folder.rglob("*.md")) and len(ingests) == 4

    db = sqlite3.connect(tmp_path / "interactions.sqlite")
    rows = db.execute("SELECT who, action FROM instructor_answer_audit ORDER BY id").fetchall()
    assert [a for _, a in rows] == ["create", "publish", "publish", "edit", "retract"]
    assert {w for w, _ in rows} != {""} and len({w for w, _ in rows}) == 1
    assert INSTRUCTOR_KEY not in str(rows), "the key is stored only as a keyed hash"


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"body": ""}, 422),
        ({"body": "   "}, 422),
        ({"body": "x" * 20_001}, 422),
        ({"body": "x" * 1_000_000}, 413),
        ({"module": "week09"}, 422),
        ({"module": "../x"}, 422),
        ({"question": ""}, 422),
    ],
)
def test_bad_answers_are_a_clear_4xx(make_client, course, ingests, change, status):
    client = make_client(INGEST_ROOTS=f'["{course}"]')
    body = {"question": QUESTION, "body": BODY, "module": "week02", **change}
    assert client.post("/api/instructor/answers", json=body).status_code == status
    assert client.post("/api/instructor/answers/nothex/publish", json={}).status_code == 422
    assert client.post(f"/api/instructor/answers/{'0' * 16}/publish", json={}).status_code == 404
    assert client.get("/api/instructor/answers").json()["answers"] == [] and ingests == []


def test_an_answers_folder_outside_the_ingest_roots_is_never_written(make_client, course, tmp_path, ingests):
    client = make_client(INGEST_ROOTS=f'["{course}"]', INSTRUCTOR_ANSWERS_DIR=str(tmp_path / "elsewhere"))
    answer_id = client.post("/api/instructor/answers", json={"question": QUESTION, "body": BODY}).json()["answer_id"]
    refused = client.post(f"/api/instructor/answers/{answer_id}/publish", json={})
    assert refused.status_code == 503 and "INGEST_ROOTS" in refused.json()["detail"]
    assert not (tmp_path / "elsewhere").exists() and ingests == []
