"""The web pages' routes in-process: the whole app with a scripted chat model and a fake store at the factory seam."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import time

from fastapi.testclient import TestClient

from classroom import reports
from classroom.interactions import InteractionLog
from core.answer import answer as make_answer
from core.conversations import was_issued
from graph.runnable import Answered

KEY = "student-key-7c1d"
INSTRUCTOR_KEY = "teacher-key-91be"
HOSTILE = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"> Lists hold items [1] and `xs[1]`.'


def _flush(client: TestClient) -> None:
    client.app.state.interactions.flush()  # type: ignore[attr-defined]


def test_browsers_get_the_page_and_api_clients_the_json_status(make_client):
    client = make_client()
    assert client.get("/").json()["status"] == "running"
    redirect = client.get("/", headers={"Accept": "text/html,application/xhtml+xml"})
    assert redirect.status_code == 307 and redirect.headers["location"] == "/chat"
    page = client.get("/chat")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/static/chat.js"' in page.text and "http" not in page.text.split("<body")[0]
    script = client.get("/static/chat.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert client.get("/static/chat.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
    assert ".hl .k" in client.get("/static/highlight.css").text  # Pygments' own stylesheet
    assert client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    for missing in ("/static/nope.js", "/static/chat.html", "/static/..%2Fweb.py"):
        response = client.get(missing)
        assert response.status_code == 404 and "detail" in response.json(), missing


def test_conversation_ids_are_random_128_bits_and_signed(make_client):
    client = make_client()
    ids = {client.post("/api/conversations", json={}).json()["conversation_id"] for _ in range(3)}
    nonces = {i.split("-")[0] for i in ids}
    assert len(nonces) == 3 and all(len(n) == 32 and int(n, 16) >= 0 for n in nonces)
    assert all(len(i) == 65 and was_issued(i) for i in ids)


def test_answer_feedback_and_the_instructor_summary(make_client):
    client = make_client(["Lists hold items [1].", "The notes don't cover this."])
    conversation = client.post("/api/conversations", json={}).json()["conversation_id"]
    body = {"message": "What is a list?", "conversation_id": conversation, "module": "week02"}
    answer = client.post("/api/chat", json=body)
    assert answer.status_code == 200
    answer_id = answer.json()["answer_id"]
    assert len(answer_id) == 32
    # a refusal: the model declines, so the closest sources are shown instead
    refused = client.post("/api/chat", json={"message": '=HYPERLINK("http://x")  zebras?'}).json()
    assert not refused["grounded"]
    voted = client.post("/api/feedback", json={"answer_id": answer_id, "rating": -1, "comment": "too short"})
    assert voted.status_code == 202, voted.text
    assert client.post("/api/feedback", json={"answer_id": "ab" * 16, "rating": 1}).status_code == 404
    assert client.post("/api/feedback", json={"answer_id": answer_id, "rating": 5}).status_code == 422
    big = client.post("/api/feedback", json={"answer_id": answer_id, "rating": 1, "comment": "x" * 2001})
    assert big.status_code in (413, 422)
    _flush(client)

    summary = client.get("/api/instructor/summary?days=7").json()
    totals = summary["totals"]
    assert totals["questions"] == 2 and totals["refused"] == 1 and totals["thumbs_down"] == 1
    assert totals["grounded_rate"] == 0.5 and totals["median_latency_ms"] >= 0
    unanswered = {u["question"]: u for u in summary["unanswered"]}
    assert set(unanswered) == {"What is a list?", '=HYPERLINK("http://x")  zebras?'}
    assert unanswered["What is a list?"]["reasons"] == ["thumbs down"]
    assert unanswered["What is a list?"]["comments"] == ["too short"]
    nearest = unanswered['=HYPERLINK("http://x")  zebras?']["closest"][0]
    assert nearest["location"] == "week02/notes.md"
    assert nearest["href"].startswith("/files/week02/notes.md"), "the closest material opens at its place"
    assert summary["top_sources"] == [{"source": "week02/notes.md", "title": "T", "answers": 1}]
    assert summary["comments"][0]["comment"] == "too short" and summary["per_day"][-1]["questions"] == 2

    csv_response = client.get("/api/instructor/export.csv")
    assert csv_response.headers["content-disposition"].startswith("attachment; filename=")
    rows = list(csv.DictReader(io.StringIO(csv_response.text)))
    assert len(rows) == 2 and rows[1]["question"] == "What is a list?" and rows[1]["comment"] == "too short"
    assert (rows[1]["module"], rows[1]["grounded"], rows[1]["refused"], rows[1]["rating"]) == ("week02", "1", "0", "-1")
    assert rows[0]["question"].startswith("'=HYPERLINK"), "a formula from a student stays text in a spreadsheet"


def test_the_stream_final_event_carries_the_answer_id(make_client):
    client = make_client(["Lists hold items [1]."], ANSWER_STYLE="generative")
    with client.stream("POST", "/api/chat/stream", json={"message": "What is a list?"}) as response:
        body = "".join(response.iter_text())
    events = [line[5:].strip() for line in body.splitlines() if line.startswith("data:")]
    final = json.loads(events[-1])
    assert len(final["answer_id"]) == 32 and final["grounded"]
    assert "".join(json.loads(e) for e in events[:-1]) == "Lists hold items [1]."
    _flush(client)
    row = client.get("/api/instructor/summary").json()["totals"]
    assert row["questions"] == 1 and row["median_first_token_ms"] is not None


def test_render_sanitises_a_hostile_reply_and_links_its_citations(make_client):
    client = make_client()
    sources = [
        {"n": 1, "source": "week02/loops_handout.pdf", "page": 2},
        {"n": 2, "source": "week03/generators.ipynb", "cell": 4},
    ]
    rendered = client.post("/api/render", json={"answer": HOSTILE + " See [2] and [7].", "sources": sources}).json()
    html = rendered["html"]
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt;" in html, "shown as text, as a student asked about it"
    assert '<a class="cite" href="/files/week02/loops_handout.pdf#page=2" data-n="1"' in html
    assert 'href="/files/week03/generators.ipynb#cell-4"' in html and "[7]" in html and 'data-n="7"' not in html
    assert "<code>xs[1]</code>" in html, "a [1] inside code is code, not a citation"
    assert rendered["links"] == [
        {"n": 1, "href": "/files/week02/loops_handout.pdf#page=2"},
        {"n": 2, "href": "/files/week03/generators.ipynb#cell-4"},
    ]


def test_files_open_only_what_the_store_holds_inside_its_folder(make_client):
    client = make_client()
    pdf = client.get("/files/week02/loops_handout.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline")
    notebook = client.get("/files/week03/generators.ipynb")
    assert notebook.status_code == 200 and 'id="cell-3"' in notebook.text
    assert "default-src 'none'" in notebook.headers["content-security-policy"]
    evil = client.get("/files/week04/evil.html")
    assert evil.status_code == 200 and "Zebras migrate." in evil.text and 'id="topic"' in evil.text
    assert not any(bad in evil.text for bad in ("<script", "onerror", "onclick", "javascript:", "window.pwned"))
    assert "<img>" in evil.text, "an image the ingest did not keep loses its src (no 404 in the browser)"
    for bad in ("week01/link.md", "week01/gone.md", "week09/none.md", "../secret.md", "week04/../../secret.md",
                "%2E%2E/secret.md", "/etc/passwd"):  # fmt: skip
        response = client.get(f"/files/{bad}")
        assert response.status_code == 404, (bad, response.status_code)
        assert "detail" in response.json()
    assert client.get("/api/modules").json() == {"modules": ["week01", "week02", "week03", "week04"]}


def test_closest_sources_for_a_refusal_without_any(make_client):
    client = make_client()
    closest = client.post("/api/closest", json={"question": "capital of France?", "module": "week02"}).json()
    assert [(s["n"], s["source"]) for s in closest["sources"]] == [(1, "week02/notes.md"), (2, "week03/notes.md")]
    assert closest["elsewhere"] == ["week03"], "under a module filter: the other modules whose notes pass the floor"
    assert client.post("/api/closest", json={"question": "capital of France?"}).json()["elsewhere"] == []


def test_with_api_keys_pages_load_and_data_needs_a_key_or_a_signed_link(make_client, tmp_path):
    client = make_client(["Lists hold items [1]."], MENTOR_API_KEY=KEY, INSTRUCTOR_API_KEY=INSTRUCTOR_KEY)
    assert client.get("/chat").status_code == 200 and client.get("/static/api.js").status_code == 200
    assert client.get("/", headers={"Accept": "text/html"}).status_code == 307
    assert client.get("/").status_code == 401
    for method, path in (("POST", "/api/render"), ("POST", "/api/conversations"), ("GET", "/api/modules"),
                         ("POST", "/api/feedback"), ("GET", "/files/week02/loops_handout.pdf")):  # fmt: skip
        assert client.request(method, path, json={}).status_code == 401, path
    student = {"X-API-Key": KEY}
    rendered = client.post(
        "/api/render",
        json={"answer": "[1]", "sources": [{"n": 1, "source": "week02/loops_handout.pdf", "page": 1}]},
        headers=student,
    ).json()
    link = rendered["links"][0]["href"]
    assert "?exp=" in link and "&sig=" in link and link.endswith("#page=1")
    assert client.get(link.split("#")[0]).status_code == 200, "a signed link opens in a tab without the header"
    assert client.get(link.split("#")[0].replace("loops_handout.pdf", "x.pdf")).status_code == 401
    assert client.get("/files/week03/generators.ipynb?sig=" + "0" * 32).status_code == 401
    assert client.get("/files/week03/generators.ipynb", headers=student).status_code == 200

    conversation = client.post("/api/conversations", json={}, headers=student).json()["conversation_id"]
    body = {"message": "What is a list?", "conversation_id": conversation}
    answer = client.post("/api/chat", json=body, headers=student)
    assert client.get("/api/instructor/summary", headers=student).status_code == 403, "students can't read it"
    teacher = {"Authorization": f"Bearer {INSTRUCTOR_KEY}"}
    assert client.get("/api/instructor/summary", headers=teacher).status_code == 200
    client.post("/api/feedback", json={"answer_id": answer.json()["answer_id"], "rating": 1}, headers=student)
    _flush(client)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("interactions.sqlite*"))
    assert b"What is a list?" in stored
    assert KEY.encode() not in stored and INSTRUCTOR_KEY.encode() not in stored
    unsalted = hashlib.sha256(conversation.encode()).hexdigest()[:16]
    assert conversation.encode() not in stored and unsalted.encode() not in stored, "ids only as a salted hash"


def test_with_recording_off_answers_still_work(make_client):
    client = make_client(["Lists hold items [1]."], INTERACTIONS_ENABLED="false")
    answer = client.post("/api/chat", json={"message": "What is a list?"}).json()
    assert answer["grounded"] and answer["answer_id"]
    assert client.post("/api/feedback", json={"answer_id": answer["answer_id"], "rating": 1}).status_code == 503
    assert client.get("/api/instructor/summary").status_code == 503


def test_a_refusal_without_sources_is_logged_with_the_closest_notes(tmp_path):
    asked: list[tuple[str, str]] = []

    def closest(question: str, module: str) -> list[dict]:
        asked.append((question, module))
        return [{"n": 1, "source": "week01/a.md", "score": 0.1, "text": "long text", "snippet": "long"}]

    log = InteractionLog(f"sqlite:///{tmp_path / 'log.sqlite'}", closest=closest)
    log.start()
    try:
        refusal = make_answer({"answer": "no", "route": "course", "grounded": False}, "conv", "d" * 32)
        log.record(Answered("capital of France?", "week01", "conv", refusal, 0.2))
        log.flush()
        missing = reports.summary(log.database, 1)["unanswered"][0]
        assert asked == [("capital of France?", "week01")]
        assert missing["closest"] == [
            {"n": 1, "source": "week01/a.md", "score": 0.1, "snippet": "long", "location": "week01/a.md"}
        ]
    finally:
        log.close()


def test_retention_deletes_old_interactions_and_their_feedback(tmp_path):
    log = InteractionLog(f"sqlite:///{tmp_path / 'log.sqlite'}", retention_days=7)
    log.start()
    try:
        now = time.time()
        for answer_id, age_days in (("a" * 32, 10), ("b" * 32, 1)):
            output = make_answer({"answer": "x", "route": "course", "grounded": True}, "conv", answer_id)
            log.record(Answered("q", "", "conv", output, 0.5, at=now - age_days * 86400))
        log.flush()
        assert log.add_feedback("a" * 32, 1, "old") and not log.add_feedback("c" * 32, 1, "")
        log.flush()
        assert log.prune() == 1
        assert not log.known("a" * 32) and log.known("b" * 32)
        with sqlite3.connect(tmp_path / "log.sqlite") as conn:
            assert conn.execute("SELECT COUNT(*) FROM feedback").fetchone() == (0,)
    finally:
        log.close()


def _stream(client: TestClient, body: dict, path: str = "/api/chat/stream") -> list[tuple[str, str]]:
    with client.stream("POST", path, json=body) as response:
        text = "".join(response.iter_text())
    pairs, event = [], "message"
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            pairs.append((event, line[5:].strip()))
    return pairs


def test_a_refusal_streams_its_text_as_tokens_too(make_client):
    client = make_client(["The notes don't cover this."], ANSWER_STYLE="generative")
    events = _stream(client, {"message": "Where do zebras migrate?"})
    final = json.loads(events[-1][1])
    assert events[-1][0] == "final" and not final["grounded"] and final["answer"]
    tokens = [json.loads(data) for event, data in events if event == "token"]
    assert tokens and "".join(tokens) == final["answer"], "the tokens add up to the final answer"
    chunks = [json.loads(data) for event, data in _stream(client, {"input": {"question": "Where do owls nest?"}},
                                                          "/mentor/stream") if event == "data"]  # fmt: skip
    assert "".join(c.get("token", "") for c in chunks[:-1]) == chunks[-1]["answer"]


def test_a_conversation_belongs_to_whoever_started_it(make_client):
    replies = ["Lists hold items [1].", "What is a generator?", "Generators yield values [2]."]  # answer, condense
    client = make_client(replies, ANSWER_STYLE="generative")
    first = client.post("/api/chat", json={"message": "What is a list?"}).json()
    mine = first["conversation_id"]
    assert was_issued(mine), "the server issues the id with the first answer"
    follow_up = client.post("/api/chat", json={"message": "and a generator?", "conversation_id": mine})
    assert follow_up.status_code == 200 and follow_up.json()["conversation_id"] == mine
    forged = mine[:-1] + ("0" if mine[-1] != "0" else "1")
    for guess in ("t1", "e2e-conv", forged, mine.split("-")[0]):
        for path, body in (
            ("/api/chat", {"message": "What did I ask before?", "conversation_id": guess}),
            ("/mentor/invoke", {"input": {"question": "What did I ask before?", "conversation_id": guess}}),
            ("/mentor/stream_events", {"input": {"question": "What did I ask before?", "conversation_id": guess}}),
            ("/mentor/chat/invoke", {"input": {"messages": [{"type": "human", "content": "What did I ask?"}]},
                                     "config": {"configurable": {"conversation_id": guess}}}),
        ):  # fmt: skip
            refused = client.post(path, json=body)
            # not the issued shape: 422 on conversation_id; the shape, unsigned: 404, as an unknown thing is
            assert refused.status_code == (404 if guess == forged else 422), (guess, path, refused.text)
            assert "What is a list?" not in refused.text and "conversation_id" in refused.text
    unknown = client.post("/api/chat", json={"message": "hi", "conversation_id": forged}).json()["detail"]
    assert unknown.startswith("This conversation_id was not issued by this server.")


def test_file_links_expire_and_are_not_signed_with_the_api_key(make_client, monkeypatch):
    import hmac as hmac_module

    import views.files

    client = make_client(MENTOR_API_KEY=KEY, FILE_LINK_TTL_SECONDS="3600")
    student = {"X-API-Key": KEY}
    sources = [{"n": 1, "source": "week02/loops_handout.pdf"}, {"n": 2, "source": "week03/generators.ipynb"}]
    links = client.post("/api/render", json={"answer": "[1] [2]", "sources": sources}, headers=student).json()["links"]
    pdf, notebook = (link["href"] for link in links)
    expires, signature = re.search(r"exp=(\d+)&sig=([0-9a-f]{32})", pdf).groups()  # type: ignore[union-attr]
    assert 3590 <= int(expires) - time.time() <= 3600
    old_style = hmac_module.new(KEY.encode(), b"files:week02/loops_handout.pdf", hashlib.sha256).hexdigest()[:32]
    assert signature != old_style, "a student's key can't mint a link"
    assert client.get(pdf).status_code == 200 and client.get(notebook.split("#")[0]).status_code == 200
    assert client.get(pdf.replace(f"exp={expires}", f"exp={int(expires) + 86400}")).status_code == 401, "bound"
    other = notebook.split("?")[0] + "?" + pdf.split("?")[1]
    assert client.get(other).status_code == 401, "a signature opens its own file only"
    later = time.time() + 3601
    monkeypatch.setattr(views.files.time, "time", lambda: later)
    assert client.get(pdf).status_code == 401, "expired after FILE_LINK_TTL_SECONDS"
    assert client.get(pdf.split("?")[0], headers=student).status_code == 200, "the key itself still opens it"


def test_the_schema_documents_every_status_the_routes_answer(make_client):
    """What the schema fuzzer's conformance checks hold the server to (tests/integration/test_hostile_input.py)."""
    schema = make_client(MENTOR_API_KEY=KEY).get("/openapi.json", headers={"X-API-Key": KEY}).json()
    operations = {(m.upper(), p): op for p, ops in schema["paths"].items() for m, op in ops.items()}
    assert len(operations) > 40
    for (method, path), operation in operations.items():
        documented = set(operation["responses"])
        assert {"401", "500"} <= documented, (method, path, documented)
        if method == "POST":
            assert {"413", "415", "422"} <= documented, (method, path, documented)
    responses = {key: set(op["responses"]) for key, op in operations.items()}
    assert {"403", "503"} <= responses[("POST", "/api/ingest")]
    assert "403" in responses[("GET", "/api/instructor/summary")]
    assert {"404", "503"} <= responses[("POST", "/api/feedback")] and "404" in responses[("GET", "/files/{source}")]
    assert "503" in responses[("POST", "/mentor/invoke")] and "503" in responses[("POST", "/api/chat/stream")]
    one = "/api/instructor/answers/{answer_id}"
    assert {"403", "404", "413", "415", "422", "503"} <= responses[("PUT", one)], "an edit has a body too"
    assert "404" in responses[("DELETE", one)] and "404" in responses[("POST", one + "/publish")]
    for study in ("/api/study/quiz", "/api/study/answer"):  # a student id not issued; no such item or module
        assert {"403", "404", "413", "415", "422", "503"} <= responses[("POST", study)], study
    assert {"403", "422", "503"} <= responses[("GET", "/api/study/progress")]
    assert "404" in responses[("POST", "/quiz/invoke")] and "403" in responses[("GET", "/api/instructor/study")]
    media = operations[("POST", "/api/chat/stream")]["responses"]["200"]["content"]
    assert list(media) == ["text/event-stream"]
    assert "text/csv" in operations[("GET", "/api/instructor/export.csv")]["responses"]["200"]["content"]
    assert client_error_shape(schema["components"]["schemas"]["Error"])


def client_error_shape(error: dict) -> bool:
    return error["required"] == ["detail"] and len(error["properties"]["detail"]["anyOf"]) == 2


def test_the_schema_states_what_the_server_refuses(make_client):
    """Issue 23: `--checks all` holds schema and server to each other; these are the rules it found unstated."""
    client = make_client(MENTOR_API_KEY=KEY)
    schema = client.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    assert not [p for p in schema["paths"] if p.endswith("token_feedback")], "always a 400 here: not mounted"
    events = schema["paths"]["/mentor/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    assert {e["properties"]["event"]["const"] for e in events["oneOf"]} == {"metadata", "data", "end", "error"}
    knobs = schema["components"]["schemas"]["mentorConfigurable"]["properties"]
    assert knobs["answer_style"]["enum"] == ["generative", "extractive", "auto"] and "pattern" in knobs["module"]
    assert "404" in schema["paths"]["/mentor/c/{config_hash}/input_schema"]["get"]["responses"]
    student = {"X-API-Key": KEY}
    assert client.get("/mentor/c/0/input_schema", headers=student).status_code == 404  # decodes to no config
    body = {"input": {"question": "hi"}, "kwargs": [1], "config": {"configurable": {"k": "5", "llm_grader": "yes"}}}
    refused = client.post("/mentor/invoke", json=body, headers=student)
    assert refused.status_code == 422, refused.text
    assert {tuple(e["loc"][-1:]) for e in refused.json()["detail"]} == {("kwargs",), ("k",), ("llm_grader",)}
    render = {"answer": "x", "sources": [{"n": True, "source": "a"}]}
    assert client.post("/api/render", json=render, headers=student).status_code == 422  # true is no integer
    render["sources"][0]["n"] = 1.0
    assert client.post("/api/render", json=render, headers=student).status_code == 200  # 1.0 is one


def test_the_question_pattern_is_what_check_question_calls_blank():
    """JSON Schema's \\s is ECMAScript's; the pattern spells out Python's str.isspace, checked over all of Unicode."""
    import re
    import sys

    from core.inputs import QUESTION_PATTERN

    pattern = re.compile(QUESTION_PATTERN)
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        assert bool(pattern.search(char)) == (not char.isspace() and code != 0), hex(code)


def test_the_app_counts_every_answer_it_gives(make_client):
    from prometheus_client import REGISTRY

    def answers_total() -> float:
        families = [m for m in REGISTRY.collect() if m.name == "mentor_answers"]
        return sum(s.value for m in families for s in m.samples if s.name == "mentor_answers_total")

    client = make_client(["Lists hold items [1]."])
    before = answers_total()
    assert client.post("/api/chat", json={"message": "What is a list?"}).status_code == 200
    assert answers_total() == before + 1, "MentorRunnable tells the server's on_answer listener"
    assert REGISTRY.get_sample_value("mentor_queue_depth") == 0, "the injected gauge went up and down"
