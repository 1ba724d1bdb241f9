"""The instructor's answers: the book (classroom/answers.py) on a temporary SQLite file and folder, and its routes
in-process with ingest replaced by a recorder (the real ingest is tests/integration/test_instructor_answers.py)."""

from __future__ import annotations

import html
import re
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


# ---- an answer linked to a file of the course ---------------------------------------------------------------
COURSE_FILES = {"week01/tuples.md", "week02/loops_handout.pdf", "week01/a]b_[c].md"}


@pytest.fixture
def linking(tmp_path: Path):
    answers = AnswerBook(str(tmp_path / "interactions.sqlite"), tmp_path / "course" / "instructor_answers",
                         lambda: ["week01", "week02"], COURSE_FILES.__contains__)  # fmt: skip
    answers.start()
    yield answers
    answers.close()


def test_a_linked_file_ends_the_published_answer_and_an_edit_changes_or_drops_it(linking):
    draft = linking.create(QUESTION, BODY, "week01", who="a", file=" week01/tuples.md ")
    assert draft.file == "week01/tuples.md" and linking.get(draft.answer_id).file == "week01/tuples.md"
    published = linking.publish(draft.answer_id, who="a")
    text = (linking.folder / published.source).read_text()
    assert text.endswith("\nSee also: [week01/tuples.md](/files/week01/tuples.md)\n"), text
    assert parse_file(linking.folder / published.source).title.startswith("Instructor answer, 20"), "title kept"

    moved = linking.edit(draft.answer_id, QUESTION, BODY, "week01", who="b", file="week02/loops_handout.pdf")
    assert (
        "See also: [week02/loops\\_handout.pdf](/files/week02/loops_handout.pdf)"
        in (linking.folder / moved.source).read_text()
    ), "the label's Markdown escaped, the link as it is"
    dropped = linking.edit(draft.answer_id, QUESTION, BODY, "week01", who="b")
    assert dropped.file == "" and "See also" not in (linking.folder / dropped.source).read_text()
    assert [a.file for a in linking.all()] == [""]
    assert [r["what"].get("file") for r in linking.audit(draft.answer_id) if r["action"] != "publish"] == [
        "week01/tuples.md",
        "week02/loops_handout.pdf",
        "",
    ], "each write of the link audited"


def test_a_file_name_with_brackets_stays_one_link():
    from classroom.answers import see_also
    from views.render import render_answer

    line = see_also("week01/a]b_[c].md")
    assert line == "See also: [week01/a\\]b\\_\\[c\\].md](/files/week01/a%5Db_%5Bc%5D.md)"
    assert '<a href="/files/week01/a%5Db_%5Bc%5D.md"' in render_answer(
        line
    ) and ">week01/a]b_[c].md</a>" in render_answer(line)


@pytest.mark.parametrize(
    "file",
    ["week09/nothing.md", "../secret.md", "/etc/passwd", "week01/../week01/tuples.md", "tuples.md",
     "instructor-answer-0123456789abcdef.md", "week01/tuples.md\x00", "x" * 401],
)  # fmt: skip
def test_a_file_the_course_has_not_ingested_is_refused_and_nothing_is_written(linking, file):
    with pytest.raises(AnswerError) as refused:
        linking.create(QUESTION, BODY, "", who="", file=file)
    assert refused.value.field == "file" and linking.all() == []
    answer = linking.create(QUESTION, BODY, "", who="")
    with pytest.raises(AnswerError):
        linking.edit(answer.answer_id, QUESTION, "changed", "", who="", file=file)
    assert linking.get(answer.answer_id).body == BODY and linking.get(answer.answer_id).file == ""


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


def test_the_routes_link_only_a_course_file_and_the_answers_page_signs_the_link(make_client, course, ingests):
    """The form's choices are the ingested files that can still be opened (not a record whose file is gone or is a
    link out of the course); any other file is a 422 naming it; the published answer's "See also" link, opened
    through a signed link (a tab without the key), is signed in turn and opens the linked file."""
    from tests.unit.conftest import record_files

    client = make_client(MENTOR_API_KEY=STUDENT_KEY, INSTRUCTOR_API_KEY=INSTRUCTOR_KEY,
                         INGEST_ROOTS=f'["{course}"]')  # fmt: skip
    teacher, student = {"X-API-Key": INSTRUCTOR_KEY}, {"X-API-Key": STUDENT_KEY}
    assert client.get("/api/instructor/files", headers=student).status_code == 403
    offered = client.get("/api/instructor/files", headers=teacher).json()["files"]
    assert offered == ["week02/loops_handout.pdf", "week03/generators.ipynb", "week04/evil.html",
                       "week04/functions.html"], "not link.md (a link out of the course), nor gone.md"  # fmt: skip
    body = {"question": QUESTION, "body": BODY, "module": "week03"}
    for file in ("week01/link.md", "week01/gone.md", "../secret.md", str(course.parent / "secret.md"), "week09/x.md"):
        refused = client.post("/api/instructor/answers", json={**body, "file": file}, headers=teacher)
        assert refused.status_code == 422 and "is not a file of the course" in refused.text, (file, refused.text)
    assert client.get("/api/instructor/answers", headers=teacher).json()["answers"] == []

    created = client.post("/api/instructor/answers", json={**body, "file": "week03/generators.ipynb"}, headers=teacher)
    assert created.status_code == 201 and created.json()["file"] == "week03/generators.ipynb", created.text
    answer_id = created.json()["answer_id"]
    source = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher).json()["source"]
    folder = (course / "instructor_answers").resolve()
    record_files(folder, source)  # what the (replaced) ingest records
    listed = client.get("/api/instructor/answers", headers=teacher).json()["answers"]
    assert [(a["answer_id"], a["file"]) for a in listed] == [(answer_id, "week03/generators.ipynb")]
    assert source not in client.get("/api/instructor/files", headers=teacher).json()["files"], "answers link files"

    page = client.get(f"/files/{source}", headers=student)
    assert page.status_code == 200 and "See also:" in page.text, page.text
    link = re.search(r'href="(/files/week03/generators\.ipynb\?exp=\d+&amp;sig=[0-9a-f]+)"', page.text)
    assert link, "the See also link is signed"
    opened = client.get(html.unescape(link.group(1)))  # no key: the signature opens it
    assert opened.status_code == 200 and "enerator" in opened.text
    assert client.get("/files/week03/generators.ipynb").status_code == 401, "unsigned, without a key: refused"

    unlinked = client.put(
        f"/api/instructor/answers/{answer_id}", json={**body, "file": "week01/gone.md"}, headers=teacher
    )
    assert unlinked.status_code == 422 and "week01/gone.md" in unlinked.text
    assert (
        client.get("/api/instructor/answers", headers=teacher).json()["answers"][0]["file"] == "week03/generators.ipynb"
    )


def test_an_answers_folder_outside_the_ingest_roots_is_never_written(make_client, course, tmp_path, ingests):
    client = make_client(INGEST_ROOTS=f'["{course}"]', INSTRUCTOR_ANSWERS_DIR=str(tmp_path / "elsewhere"))
    answer_id = client.post("/api/instructor/answers", json={"question": QUESTION, "body": BODY}).json()["answer_id"]
    refused = client.post(f"/api/instructor/answers/{answer_id}/publish", json={})
    assert refused.status_code == 503 and "INGEST_ROOTS" in refused.json()["detail"]
    assert not (tmp_path / "elsewhere").exists() and ingests == []


# ---- what the published answers did: the students who asked, and the answers that cited them -----------------


def _answered(question: str, conversation: str, grounded: bool, answer_id: str, sources=(), text="no",  # type: ignore[no-untyped-def]
              module="", at=0.0):  # fmt: skip
    from core.answer import answer as make_answer
    from graph.runnable import Answered

    output = make_answer({"answer": text, "route": "course", "grounded": grounded, "sources": list(sources)},
                         conversation, answer_id)  # fmt: skip
    return Answered(question, module, conversation, output, 0.1, at=at)


def test_only_the_conversations_asked_about_learn_their_failed_question_is_answered(book, log):
    from classroom.answered import answered_questions
    from classroom.interactions import conversation_hash

    asked = "what's the LATE-submission policy"  # the student's wording; the instructor rewords the answer's
    log.record(_answered(asked, "conv-a", False, "a" * 32))
    log.record(_answered("What is a tuple?", "conv-a", True, "b" * 32, text="A tuple [1]."))
    log.record(_answered(asked + "?", "conv-b", False, "c" * 32))
    log.record(_answered("Is late work marked", "conv-c", True, "d" * 32, text="Maybe."))
    log.flush()
    assert log.add_feedback("d" * 32, -1, "")  # not helpful: failed too, though grounded
    log.flush()
    mine = {conversation_hash(log.salt, c): c for c in ("conv-a", "conv-c")}

    def found() -> list[tuple[str, str]]:
        rows = answered_questions(log.database, mine, book.all(), book.asked())
        return sorted((r["conversation_id"], r["question"]) for r in rows)

    draft = book.create(QUESTION, BODY, "", who="", asked=asked)
    assert found() == [], "a draft answers no one"
    published = book.publish(draft.answer_id, who="")
    assert found() == [("conv-a", asked)], "conv-b asked too, but its id was not sent; the tuple was answered"
    row = answered_questions(log.database, mine, book.all(), book.asked())[0]
    assert row["source"] == published.source and row["title"].startswith("Instructor answer, 20")
    other = book.publish(book.create("Is late work marked?", "Yes, with a penalty.", "", who="").answer_id, who="")
    assert found() == [("conv-a", asked), ("conv-c", "Is late work marked")], "a thumbs-down question too"
    book.retract(draft.answer_id, who="")
    book.retract(other.answer_id, who="")
    assert found() == [], "a retracted answer takes its marker away"


def test_usage_counts_the_answers_that_cited_a_published_answer_and_their_ratings(log):
    from classroom.answered import usage

    mine, other = "instructor-answer-0123456789abcdef.md", "week01/instructor-answer-fedcba9876543210.md"
    sources = [{"n": 1, "source": "week01/tuples.md"}, {"n": 2, "source": mine}]
    log.record(_answered("q1", "c", True, "1" * 32, sources, "Late work loses 10 % [2]."))
    log.record(_answered("q2", "c", True, "2" * 32, sources, "Both [1] [2], [2]."))
    log.record(_answered("q3", "c", True, "3" * 32, sources, "Tuples only [1]."))  # listed, not cited
    log.record(_answered("q4", "c", False, "4" * 32, sources, "Not in the notes."))
    log.flush()
    log.add_feedback("1" * 32, 1, "")
    log.add_feedback("2" * 32, -1, "")
    log.add_feedback("3" * 32, -1, "")
    log.flush()
    assert usage(log.database, [mine, other]) == {
        mine: {"cited": 2, "helpful": 1, "not_helpful": 1},
        other: {"cited": 0, "helpful": 0, "not_helpful": 0},
    }


def test_the_student_page_asks_which_of_its_questions_were_answered(make_client, course, ingests):
    from core.answer import answer as make_answer
    from graph.runnable import Answered

    client = make_client(MENTOR_API_KEY=STUDENT_KEY, INSTRUCTOR_API_KEY=INSTRUCTOR_KEY,
                         INGEST_ROOTS=f'["{course}"]')  # fmt: skip
    teacher, student = {"X-API-Key": INSTRUCTOR_KEY}, {"X-API-Key": STUDENT_KEY}
    mine, theirs = (client.post("/api/conversations", json={}, headers=student).json()["conversation_id"]
                    for _ in range(2))  # fmt: skip
    log = client.app.state.interactions  # type: ignore[attr-defined]
    for conversation, answer_id in ((mine, "e" * 32), (theirs, "f" * 32)):
        refusal = make_answer({"answer": "no", "route": "course", "grounded": False}, conversation, answer_id)
        log.record(Answered(QUESTION, "", conversation, refusal, 0.1))
    log.flush()
    forged = "0" * 32 + "-" + "0" * 32  # the right shape, not issued: matches nothing, as an id of old ("t1") does

    def answered(headers=student):  # type: ignore[no-untyped-def]
        ids = [mine, forged, "t1", ""]
        return client.post("/api/conversations/answered", json={"conversation_ids": ids}, headers=headers)

    assert answered().json() == {"answered": []}
    body = {"question": "Late work: the policy", "body": BODY, "module": "", "asked": QUESTION}
    answer_id = client.post("/api/instructor/answers", json=body, headers=teacher).json()["answer_id"]
    source = client.post(f"/api/instructor/answers/{answer_id}/publish", json={}, headers=teacher).json()["source"]
    found = answered().json()["answered"]
    assert [(f["conversation_id"], f["question"], f["answer_id"]) for f in found] == [(mine, QUESTION, answer_id)]
    assert found[0]["href"].startswith(f"/files/{source}?exp=") and "&sig=" in found[0]["href"], "a signed link"
    assert answered(headers={}).status_code == 401
    for bad in ({}, {"conversation_ids": "x"}, {"conversation_ids": ["x" * 66]}, {"conversation_ids": [mine] * 51}):
        assert client.post("/api/conversations/answered", json=bad, headers=student).status_code == 422, bad
    listed = client.get("/api/instructor/answers", headers=teacher).json()["answers"]
    assert listed[0]["usage"] == {"cited": 0, "helpful": 0, "not_helpful": 0}
    assert client.delete(f"/api/instructor/answers/{answer_id}", headers=teacher).status_code == 200
    assert answered().json() == {"answered": []}, "retracted: the marker goes"
    assert client.get("/api/instructor/answers", headers=teacher).json()["answers"][0]["usage"] is None


def test_a_missing_row_shows_the_earlier_turn_its_module_filter_and_the_answer_a_thumbs_down_got(log):
    import time

    from classroom.reports import summary

    now = time.time()
    log.record(_answered("What is a tuple?", "c1", True, "1" * 32, text="Immutable [1].", at=now - 30))
    log.record(_answered("and can it change?", "c1", False, "2" * 32, module="week01", at=now - 20))
    log.record(_answered("What is a list?", "c2", True, "3" * 32, text="Lists hold items [1].", at=now - 10))
    log.flush()
    log.add_feedback("3" * 32, -1, "")
    log.flush()
    rows = {u["question"]: u for u in summary(log.database, 1)["unanswered"]}
    follow_up, thumbs_down = rows["and can it change?"], rows["What is a list?"]
    assert (follow_up["earlier"], follow_up["module"], follow_up["answer"]) == ("What is a tuple?", "week01", "")
    assert (thumbs_down["earlier"], thumbs_down["answer"]) == ("", "Lists hold items [1]."), "another conversation"
