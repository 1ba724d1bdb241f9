"""/instructor's missing-material list as a working list (classroom/reports.py, classroom/resolved.py): similar
questions as one counted row, open rows per module, "not in the materials" vs "retrieval missed", course files
no answer cites, and rows marked resolved (audited) leaving the list until asked again. A real SQLite log; the
routes in-process under the instructor's key."""

from __future__ import annotations

import time

from classroom import reports, resolved
from core.sql import new_engine

INSTRUCTOR_KEY = "teacher-key-91be"
STUDENT_KEY = "student-key-7c1d"


def _answered(question: str, answer_id: str, *, grounded: bool = False, sources=(), text="no", module="", at=0.0):  # type: ignore[no-untyped-def]
    from core.answer import answer as make_answer
    from graph.runnable import Answered

    output = make_answer({"answer": text, "route": "course", "grounded": grounded, "sources": list(sources)},
                         "conv-" + answer_id[:4], answer_id)  # fmt: skip
    return Answered(question, module, "conv-" + answer_id[:4], output, 0.1, at=at or time.time())


def _source(n: int, source: str, score: float) -> dict:
    return {"n": n, "source": source, "module": source.split("/")[0] if "/" in source else "", "score": score,
            "text": "x", "snippet": "x"}  # fmt: skip


def test_near_duplicate_questions_are_one_row_with_a_count_and_their_wordings(log):
    for i, question in enumerate(["What is a list?", "what is a list", "What are lists?", "What is a tuple?"]):
        log.record(_answered(question, f"{i}" * 32, at=time.time() - 10 + i))
    log.flush()
    rows = reports.summary(log.database, 1)["unanswered"]
    assert len(rows) == 2, [r["question"] for r in rows]
    lists = rows[0]
    assert lists["times"] == 3 and lists["question"] == "What are lists?", "the newest wording leads"
    assert [(v["question"], v["times"]) for v in lists["variants"]] == [("what is a list", 2), ("What are lists?", 1)]
    assert rows[1]["times"] == 1 and rows[1]["key"] != lists["key"]
    assert reports.row_key("Lists?") == lists["key"], "the key is the content terms' stems"


def test_open_rows_are_counted_per_module_by_filter_else_closest_note(log):
    log.record(_answered("What is a set?", "1" * 32, module="week01", sources=[_source(1, "week02/a.md", 0.2)]))
    log.record(_answered("What is a frozenset?", "2" * 32, sources=[_source(1, "week02/a.md", 0.2)]))
    log.record(_answered("What is a dict?", "3" * 32, sources=[_source(1, "week02/b.md", 0.2)]))
    log.record(_answered("Capital of France?", "4" * 32))
    log.flush()
    per_module = reports.summary(log.database, 1)["missing_per_module"]
    assert per_module == [{"module": "week02", "rows": 2}, {"module": "", "rows": 1}, {"module": "week01", "rows": 1}]


def test_a_refusal_near_strong_material_is_labelled_retrieval_missed(log):
    log.record(_answered("How do generators pause?", "1" * 32, sources=[_source(1, "week03/g.md", 0.41)]))
    log.record(_answered("Who won the cup?", "2" * 32, sources=[_source(1, "week03/g.md", 0.12)]))
    log.record(_answered("What is a list?", "3" * 32, grounded=True, text="Items [1].",
                         sources=[_source(1, "week02/l.md", 0.9)]))  # fmt: skip
    log.flush()
    log.add_feedback("3" * 32, -1, "")
    log.flush()
    rows = {r["question"]: r for r in reports.summary(log.database, 1, strong=0.35)["unanswered"]}
    assert rows["How do generators pause?"]["gap"] == reports.MISSED
    assert rows["How do generators pause?"]["closest_score"] == 0.41
    assert rows["Who won the cup?"]["gap"] == reports.ABSENT
    assert rows["What is a list?"]["gap"] == "" and rows["What is a list?"]["reasons"] == ["thumbs down"]
    stricter = {r["question"]: r["gap"] for r in reports.summary(log.database, 1, strong=0.55)["unanswered"]}
    assert stricter["How do generators pause?"] == reports.ABSENT, "the threshold is the one passed"


def test_course_files_no_answer_cited_are_listed(log):
    log.record(_answered("What is a list?", "1" * 32, grounded=True, text="Lists hold items [1].",
                         sources=[_source(1, "week02/l.md", 0.9), _source(2, "week02/m.md", 0.5)]))  # fmt: skip
    log.record(_answered("Zebras?", "2" * 32, sources=[_source(1, "week03/z.md", 0.1)]))  # refused: cites nothing
    log.flush()
    files = ["week02/l.md", "week02/m.md", "week03/z.md", "instructor-answer-0123456789abcdef.md"]
    never = reports.summary(log.database, 1, files=files)["never_cited"]
    assert never == {"files": ["week02/m.md", "week03/z.md"], "count": 2, "of": 3}
    assert reports.summary(log.database, 1)["never_cited"] is None


def test_a_resolved_row_leaves_the_list_is_audited_and_returns_when_asked_again(log, tmp_path):
    engine = new_engine(f"sqlite:///{tmp_path / 'log.sqlite'}")
    resolved.start(engine)
    log.record(_answered("What is a list?", "1" * 32, at=time.time() - 5))
    log.record(_answered("Capital of France?", "2" * 32, at=time.time() - 5))
    log.flush()
    key = reports.row_key("What is a list?")
    assert key in reports.row_keys(log.database)
    resolved.mark(engine, key, True, who="abc")
    summary = reports.summary(log.database, 1, resolved=resolved.resolved_at(engine))
    assert [r["question"] for r in summary["unanswered"]] == ["Capital of France?"]
    assert [r["key"] for r in summary["resolved"]] == [key] and summary["resolved"][0]["resolved_at"]
    assert summary["missing_per_module"] == [{"module": "", "rows": 1}], "resolved rows are not counted"

    resolved.mark(engine, key, False, who="def")
    assert resolved.resolved_at(engine) == {}
    resolved.mark(engine, key, True, who="abc")
    assert [(a["who"], a["resolved"]) for a in resolved.audit(engine, key)] == [
        ("abc", True), ("def", False), ("abc", True)]  # fmt: skip
    log.record(_answered("what are lists", "3" * 32, at=time.time() + 1))  # a new wording, after it was resolved
    log.flush()
    again = reports.summary(log.database, 1, resolved=resolved.resolved_at(engine))
    assert {r["key"] for r in again["unanswered"]} == {key, reports.row_key("Capital of France?")}
    assert again["resolved"] == []
    engine.dispose()


def test_an_answer_to_a_row_tells_the_askers_of_every_wording_in_it(log, tmp_path):
    from classroom.answered import answered_questions
    from classroom.answers import AnswerBook
    from classroom.interactions import conversation_hash

    for i, question in enumerate(["What is a list?", "what are lists", "Is a list mutable?"]):
        log.record(_answered(question, f"{i}" * 32))
    log.flush()
    row = reports.summary(log.database, 1)["unanswered"][0]
    assert row["times"] == 2, "the two wordings are one row; the mutable question another"
    book = AnswerBook(str(tmp_path / "answers.sqlite"), tmp_path / "answers", lambda: [])
    book.start()
    try:  # the page's Answer button sends the row's newest wording as `asked`
        answer = book.create("Lists", "A list holds items in order.", "", who="", asked=row["question"])
        book.publish(answer.answer_id, who="")
        ids = {conversation_hash(log.salt, c): c for c in ("conv-0000", "conv-1111", "conv-2222")}
        found = answered_questions(log.database, ids, book.all(), book.asked())
    finally:
        book.close()
    assert sorted(f["question"] for f in found) == ["What is a list?", "what are lists"]


def test_the_resolve_route_marks_reopens_and_refuses_bad_input(make_client):
    client = make_client(MENTOR_API_KEY=STUDENT_KEY, INSTRUCTOR_API_KEY=INSTRUCTOR_KEY)
    teacher, student = {"X-API-Key": INSTRUCTOR_KEY}, {"X-API-Key": STUDENT_KEY}
    log = client.app.state.interactions  # type: ignore[attr-defined]
    log.record(_answered("What is a frozenset?", "1" * 32))
    log.flush()
    row = client.get("/api/instructor/summary?days=1", headers=teacher).json()["unanswered"][0]
    assert row["question"] == "What is a frozenset?" and row["variants"][0]["times"] == 1
    url = "/api/instructor/resolved"
    assert client.post(url, json={"key": row["key"]}, headers=student).status_code == 403
    done = client.post(url, json={"key": row["key"], "resolved": True}, headers=teacher)
    assert done.status_code == 200 and done.json()["resolved"] is True, done.text
    summary = client.get("/api/instructor/summary?days=1", headers=teacher).json()
    assert summary["unanswered"] == [] and [r["key"] for r in summary["resolved"]] == [row["key"]]
    assert [r["key"] for r in client.get(url, headers=teacher).json()["resolved"]] == [row["key"]]
    assert summary["never_cited"]["count"] >= 1, "the recorded course files none has cited"
    reopened = client.post(url, json={"key": row["key"], "resolved": False}, headers=teacher)
    assert reopened.status_code == 200
    assert client.get("/api/instructor/summary?days=1", headers=teacher).json()["unanswered"][0]["key"] == row["key"]
    book = client.app.state.instructor_answers  # type: ignore[attr-defined]
    trail = resolved.audit(book.database, row["key"])
    assert [a["resolved"] for a in trail] == [True, False] and len({a["who"] for a in trail} - {""}) == 1
    assert INSTRUCTOR_KEY not in str(trail), "who is a keyed hash, never the key"
    for bad, status in [({"key": "no such row"}, 404), ({"key": ""}, 422), ({"key": "   "}, 422), ({}, 422),
                        ({"key": "x" * 4001}, 422), ({"key": row["key"], "resolved": "maybe"}, 422),
                        ({"key": "a\u0000b"}, 422)]:  # fmt: skip
        response = client.post(url, json=bad, headers=teacher)
        assert response.status_code == status, (bad, response.status_code, response.text)
    huge = client.post(url, content=b'{"key": "' + b"x" * 2_000_000 + b'"}', headers={**teacher,
                       "Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 413
    documented = client.get("/openapi.json", headers=student).json()["paths"][url]["post"]["responses"]
    assert {"404", "413", "422"} <= set(documented), "the schema says what the route answers (the fuzzer checks)"


def test_with_the_log_off_there_is_nothing_to_resolve(make_client):
    client = make_client(INTERACTIONS_ENABLED="false")
    refused = client.post("/api/instructor/resolved", json={"key": "list"})
    assert refused.status_code == 503 and "INTERACTIONS_ENABLED" in refused.text
    assert client.get("/api/instructor/resolved").json() == {"resolved": []}, "the resolutions' own tables still open"
