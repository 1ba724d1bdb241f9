"""Every branch of the tutor graph, with a scripted chat model and a fake store at the factory seam."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from core import factories
from core.retrieval import Hit
from graph.graph import create_graph, graph
from server.runnables import MentorRunnable


class ScriptedChat(GenericFakeChatModel):
    """Replies from a script and remembers every prompt it was given."""

    prompts: list[list[BaseMessage]] = []

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        self.prompts.append(messages)
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


class FakeStore:
    def __init__(self, results: list[list[Hit]]) -> None:
        self.results = results
        self.calls: list[dict] = []

    def search(self, query: str, k: int | None = None, **kwargs: Any) -> list[Hit]:
        self.calls.append({"query": query, "k": k, **kwargs})
        return self.results[min(len(self.calls), len(self.results)) - 1]

    def count(self) -> int:
        return 1


def hit(n: int, score: float, text: str | None = None) -> Hit:
    meta = {
        "source": f"week0{n}/notes.md",
        "title": "T",
        "headings": "H",
        "module": f"week0{n}",
        "page": 0,
        "slide": 0,
        "cell": 0,
        "anchor": "",
    }
    return Hit(id=f"id{n}", text=text or f"text {n}", metadata=meta, cosine=score)


@pytest.fixture
def wire(monkeypatch):
    def _wire(replies: list[str], results: list[list[Hit]]) -> tuple[ScriptedChat, FakeStore]:
        llm = ScriptedChat(messages=iter(AIMessage(r) for r in replies), prompts=[])
        store = FakeStore(results)
        monkeypatch.setattr(factories, "get_llm", lambda *a, **k: llm)
        monkeypatch.setattr(factories, "shared_store", lambda: store)
        return llm, store

    return _wire


def test_small_talk_is_answered_without_retrieval(wire):
    llm, store = wire(["Hi! Ask me about your course."], [[hit(1, 0.9)]])
    out = graph.invoke({"question": "hello!"})
    assert out["route"] == "chat" and out["answer"].startswith("Hi!")
    assert store.calls == [] and len(llm.prompts) == 1 and out["sources"] == []


def test_confident_retrieval_skips_the_grader_and_cites(wire):
    llm, store = wire(["A list comprehension builds a list [1]."], [[hit(1, 0.8), hit(2, 0.6)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["grounded"] and out["route"] == "course" and out["rewrites"] == 0
    assert len(llm.prompts) == 1  # generate only
    assert [s["source"] for s in out["sources"]] == ["week01/notes.md", "week02/notes.md"]
    assert "[1]" in out["answer"]


def test_grader_decides_the_grey_zone_and_generate_sees_only_relevant(wire):
    llm, _ = wire(['{"note_1": "no", "note_2": "yes"}', "Because [1]."], [[hit(1, 0.3), hit(2, 0.32, "the answer")]])
    out = graph.invoke({"question": "why?"})
    assert out["grounded"]
    assert [s["source"] for s in out["sources"]] == ["week02/notes.md"]
    generate_prompt = llm.prompts[1][-1].content
    assert "the answer" in generate_prompt and "text 1" not in generate_prompt
    # grader and generator share everything up to the task: llama.cpp reuses that prefix
    grade_prompt = llm.prompts[0][-1].content
    assert grade_prompt.split("Question:")[0].count("Note") == 2


def test_grey_zone_notes_come_last_so_a_dropped_one_keeps_the_shared_prefix(wire):
    replies = ['{"note_1": "yes", "note_2": "yes", "note_3": "no"}', "Because [1] and [2]."]
    llm, _ = wire(replies, [[hit(1, 0.3, "grey"), hit(2, 0.7, "sure"), hit(3, 0.28, "maybe")]])
    out = graph.invoke({"question": "why?"})
    grade_notes = llm.prompts[0][-1].content.split("Question:")[0]
    assert grade_notes.index("sure") < grade_notes.index("grey") < grade_notes.index("maybe")
    # the dropped note was the last one: the generator's notes are a prefix of the grader's
    generate_notes = llm.prompts[1][-1].content.split("Question:")[0]
    assert grade_notes.startswith(generate_notes.rstrip())
    assert [s["source"] for s in out["sources"]] == ["week02/notes.md", "week01/notes.md"]


def test_grader_reads_only_the_opening_of_grey_notes_and_generate_reads_them_whole(wire):
    long_note = "Generators yield values lazily. " * 20
    llm, _ = wire(['{"note_2": "yes"}', "They yield [2]."], [[hit(1, 0.8, "sure"), hit(2, 0.3, long_note)]])
    out = graph.invoke({"question": "What is a generator?"}, {"configurable": {"grade_note_chars": 64}})
    grade_prompt, generate_prompt = llm.prompts[0][-1].content, llm.prompts[1][-1].content
    assert long_note.strip() not in grade_prompt and long_note.strip() in generate_prompt
    # the grader's view of the kept note is where the generator's prompt first differs: llama.cpp reuses the rest
    shared = grade_prompt.split("\n\nQuestion:")[0]
    assert generate_prompt.startswith(shared) and len(shared) >= len("Note 1:\nsure\n\nNote 2:\n") + 50
    assert out["grounded"] and len(out["sources"]) == 2


def test_uncited_answer_gets_its_sources_named(wire):
    wire(["It builds lists."], [[hit(1, 0.9)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["answer"].endswith("Sources: [1]")


def test_malformed_grade_is_never_relevant_and_rewrites_are_capped(wire):
    replies = ["yes they are all relevant", "better query", "not json either", "another query", "{}"]
    llm, store = wire(replies, [[hit(1, 0.3)]])
    out = graph.invoke({"question": "obscure question"})
    assert not out["grounded"] and out["rewrites"] == 2
    assert "couldn't find" in out["answer"] and out["sources"][0]["source"] == "week01/notes.md"
    assert [c["query"] for c in store.calls] == ["obscure question", "better query", "another query"]
    assert len(llm.prompts) == 5


def test_nothing_above_the_floor_refuses_without_grading(wire):
    llm, store = wire(["capital city France", "France capital"], [[]])
    out = graph.invoke({"question": "What is the capital of France?"})
    assert not out["grounded"] and out["sources"] == [] and out["rewrites"] == 2
    assert len(llm.prompts) == 2  # two rewrites, no grading, no generation


def test_max_rewrites_zero_refuses_at_once(wire):
    llm, _ = wire([], [[]])
    out = graph.invoke({"question": "anything"}, {"configurable": {"max_rewrites": 0}})
    assert out["rewrites"] == 0 and not out["grounded"] and llm.prompts == []


def test_model_that_declines_is_not_grounded(wire):
    wire(["The notes don't cover this topic."], [[hit(1, 0.9)]])
    out = graph.invoke({"question": "What is a metaclass?"})
    assert not out["grounded"] and "couldn't find" in out["answer"]


def test_per_request_configuration_reaches_retrieval(wire):
    _, store = wire(["Answer [1]."], [[hit(3, 0.9)]])
    graph.invoke({"question": "generators?"}, {"configurable": {"k": 5, "module": "week03", "retrieval_mode": "bm25"}})
    assert store.calls[0]["k"] == 5 and store.calls[0]["module"] == "week03" and store.calls[0]["mode"] == "bm25"


def test_follow_up_is_condensed_with_history(wire):
    llm, store = wire(
        [
            "A list comprehension builds lists [1].",
            "How is a generator expression different from a list comprehension?",
            "It is lazy [1].",
        ],
        [[hit(1, 0.9)]],
    )
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    first = mentor.invoke({"question": "What is a list comprehension?", "conversation_id": "c1"})
    second = mentor.invoke(
        {"question": "and how is that different from a generator expression?", "conversation_id": "c1"}
    )
    assert first["conversation_id"] == second["conversation_id"] == "c1"
    assert store.calls[1]["query"] == "How is a generator expression different from a list comprehension?"
    condense_prompt = llm.prompts[1][-1].content
    assert "What is a list comprehension?" in condense_prompt and "builds lists" in condense_prompt


def test_stream_yields_tokens_then_the_final_output(wire):
    wire(["Lists are ordered [1]."], [[hit(1, 0.9)]])
    chunks = list(MentorRunnable(create_graph(InMemorySaver())).stream({"question": "What is a list?"}))
    tokens = "".join(c["token"] for c in chunks if "token" in c)
    assert tokens == "Lists are ordered [1]."
    assert chunks[-1]["grounded"] and chunks[-1]["answer"].startswith("Lists are ordered")


def test_blank_question_is_rejected(wire):
    wire([], [[]])
    with pytest.raises(ValueError):
        MentorRunnable(create_graph(None)).invoke({"question": "   "})


def test_long_history_is_trimmed_to_the_budget(wire):
    from langchain_core.messages import HumanMessage

    from core.settings import get_settings
    from graph.graph import condense_question

    llm, _ = wire(["standalone question"], [[]])
    history = []
    for turn in range(60):
        history += [HumanMessage(f"question {turn} " + "word " * 80), AIMessage(f"answer {turn} " + "word " * 80)]
    state = {"messages": [*history, HumanMessage("and why?")], "question": "and why?"}
    assert condense_question(state, {})["query"] == "standalone question"
    prompt = llm.prompts[0][-1].content
    assert "answer 59" in prompt and "question 0 " not in prompt, "the most recent turns are kept"
    assert len(prompt) < get_settings().history_max_tokens * 4 + 1000
