"""core/answer.py: the answer is written once, and every surface (LangServe's /mentor, /api/chat and its stream's
`final` event, the OpenAPI document) carries exactly its fields."""

from __future__ import annotations

import json

from pydantic import TypeAdapter

from core.answer import REPLY_DEFAULTS, Answer, ChatAnswer, Reply, answer, chat_answer
from core.sources import cited, location
from core.text import strip_citations
from tests.unit.test_web import _stream


def _resolve(schema: dict, components: dict) -> dict:
    """A schema with its top-level $ref followed (one level: the components are flat)."""
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_the_answer_s_fields_are_the_reply_s_and_its_ids():
    assert set(Answer.__required_keys__) == set(Reply.__required_keys__) | {"conversation_id", "answer_id"}
    assert set(ChatAnswer.__required_keys__) == set(Answer.__required_keys__) | {"response"}
    assert set(REPLY_DEFAULTS) == set(Reply.__required_keys__)


def test_an_answer_of_a_partial_state_has_every_field_and_validates():
    out = answer({"answer": "Lists hold items [1].", "grounded": 1, "route": "course"}, "c" * 65, "a" * 32)
    TypeAdapter(Answer).validate_python(out, strict=True)
    assert out["grounded"] is True and out["verified"] is None and out["sources"] == []
    assert out["held_back"] == ""  # no exercise given back in place of its solution
    chat = chat_answer(out)
    assert chat["response"] == chat["answer"] and set(chat) == set(ChatAnswer.__required_keys__)


def test_a_held_back_solution_names_its_exercise_on_every_surface(make_client):
    """HINTS_FIRST: the answer says which exercise it gave back instead of the solution (the page offers "Show the
    solution" for it), and the OpenAPI document says what the field means."""
    out = answer({"answer": "Try it [1].", "grounded": True, "held_back": "Balancing an equation"}, "c" * 65, "a" * 32)
    TypeAdapter(Answer).validate_python(out, strict=True)
    assert out["held_back"] == chat_answer(out)["held_back"] == "Balancing an equation"
    components = make_client().get("/openapi.json").json()["components"]["schemas"]
    for name in ("Answer", "ChatAnswer"):
        field = components[name]["properties"]["held_back"]
        assert field["type"] == "string" and "HINTS_FIRST" in field["description"]
        assert "held_back" in components[name]["required"]


def test_citations_and_locations_have_one_spelling():
    assert cited("Tuples [2] are immutable [1]; see [2] and [100].") == [2, 1]
    # An index is no citation, nor is code: "`primes[0]` is `2`" was quoted as "`primes` is `2`".
    assert cited("`primes[0]` is `2`, s[1] too [3][4].\n\n```python\nx = [1]\n```") == [3, 4]
    assert strip_citations("- `primes[0]` is `2` [1]") == "- `primes[0]` is `2`"
    assert strip_citations("m[0][1] and L[2] are items [2][3].") == "m[0][1] and L[2] are items."
    pdf = {"source": "week02/loops.pdf", "page": 3, "slide": 0, "cell": 0, "anchor": ""}
    assert location(pdf) == "week02/loops.pdf, page 3"
    assert location({"source": "week04/f.html", "anchor": "defaults"}) == "week04/f.html, #defaults"


def test_the_openapi_document_names_one_answer_for_mentor_api_chat_and_the_stream(make_client):
    client = make_client()
    schema = client.get("/openapi.json").json()
    components, paths = schema["components"]["schemas"], schema["paths"]
    answer_schema = components["Answer"]
    chat_schema = components["ChatAnswer"]
    assert set(answer_schema["properties"]) == set(Answer.__required_keys__)
    assert set(chat_schema["properties"]) == set(answer_schema["properties"]) | {"response"}
    for name in ("properties", "required"):
        assert {k: v for k, v in _iter(chat_schema[name]) if k != "response"} == dict(_iter(answer_schema[name]))

    chat = paths["/api/chat"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert _resolve(chat, components) == chat_schema
    stream = paths["/api/chat/stream"]["post"]["responses"]["200"]["content"]["text/event-stream"]["schema"]
    final = next(e for e in stream["oneOf"] if e["properties"]["event"]["const"] == "final")
    assert _resolve(final["properties"]["data"]["contentSchema"], components) == chat_schema

    invoke = paths["/mentor/invoke"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    output = _resolve(_resolve(invoke, components)["properties"]["output"], components)
    assert set(output["properties"]) == set(Answer.__required_keys__)
    assert {k: _resolve(v, components) for k, v in output["properties"].items()} == {
        k: _resolve(v, components) for k, v in answer_schema["properties"].items()
    }


def _iter(value: dict | list) -> list[tuple[str, object]]:
    return list(value.items()) if isinstance(value, dict) else [(v, True) for v in value]


def test_every_surface_returns_exactly_the_answer_s_fields(make_client):
    client = make_client(["Lists hold items [1].", "Lists hold items [1].", "Lists hold items [1]."])
    body = client.post("/api/chat", json={"message": "What is a list?"}).json()
    assert set(body) == set(ChatAnswer.__required_keys__) and body["response"] == body["answer"]
    TypeAdapter(ChatAnswer).validate_python(body)

    events = _stream(client, {"message": "What is a list?"})
    assert events[-1][0] == "final"
    final = json.loads(events[-1][1])
    assert set(final) == set(body) and final["sources"] == body["sources"]

    output = client.post("/mentor/invoke", json={"input": {"question": "What is a list?"}}).json()["output"]
    assert set(output) == set(Answer.__required_keys__)
    TypeAdapter(Answer).validate_python(output)
