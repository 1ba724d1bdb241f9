"""Every branch of the tutor graph, with a scripted chat model and a fake store at the factory seam."""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langgraph.checkpoint.memory import InMemorySaver

from core import factories
from core.conversations import issue_conversation_id
from core.evidence import TermStats
from core.retrieval import Hit
from core.text import segments, words
from graph import prompts
from graph.graph import create_graph, graph
from graph.runnable import MentorRunnable


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
        self.extra: list[str] = []  # more of the collection than the hits
        self.sides: dict[str, tuple[str, str]] = {}  # source → the texts before and after its chunk

    def search(self, query: str, k: int | None = None, **kwargs: Any) -> list[Hit]:
        self.calls.append({"query": query, "k": k, **kwargs})
        return self.results[min(len(self.calls), len(self.results)) - 1]

    def count(self) -> int:
        return 1

    def neighbours(self, chunks: list[dict]) -> list[tuple[str, str]]:
        return [self.sides.get(meta["source"], ("", "")) for meta in chunks]

    def term_stats(self) -> TermStats:
        texts = [h.text for hits in self.results for h in hits] + self.extra + ["filler text about something else"] * 8
        return TermStats.from_texts(texts)

    exercises: dict[tuple[str, str, bool], list[Hit]] = {}  # (file_id, title, solution) → its chunks

    def exercise(self, file_id: str, title: str, solution: bool = False) -> list[Hit]:
        return self.exercises.get((file_id, title, solution), [])


class BagOfWords:
    """Embeddings at the factory seam: a hashed bag of words, so cosine follows shared words."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        vector = [0.0] * 64
        for word in words(text):
            vector[sum(map(ord, word.rstrip("s"))) % 64] += 1.0
        return vector


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
    # These tests drive the model's drafts through the sentence check; the packaged default quotes instead.
    monkeypatch.setenv("ANSWER_STYLE", "generative")

    def _wire(replies: list[str], results: list[list[Hit]]) -> tuple[ScriptedChat, FakeStore]:
        llm = ScriptedChat(messages=iter(AIMessage(r) for r in replies), prompts=[])
        store = FakeStore(results)
        monkeypatch.setattr(factories, "get_llm", lambda *a, **k: llm)
        monkeypatch.setattr(factories, "shared_store", lambda: store)
        monkeypatch.setattr(factories, "get_embeddings", lambda *a, **k: BagOfWords())
        return llm, store

    return _wire


def test_small_talk_is_answered_without_retrieval(wire):
    llm, store = wire(["Hi! Ask me about your course."], [[hit(1, 0.9)]])
    out = graph.invoke({"question": "hello!"})
    assert out["route"] == "chat" and out["answer"].startswith("Hi!")
    assert store.calls == [] and len(llm.prompts) == 1 and out["sources"] == []


def test_thanks_get_a_fixed_reply_without_the_model_or_retrieval(wire):
    llm, store = wire([], [[hit(1, 0.9)]])
    out = graph.invoke({"question": "Thanks, that helped!"})
    assert out["route"] == "chat" and out["answer"].startswith("You're welcome!") and not out["grounded"]
    assert store.calls == [] and llm.prompts == [] and out["sources"] == []


COMPREHENSION = "A list comprehension builds a new list from an iterable in one expression."


def test_supported_sentences_are_kept_and_cited_unsupported_ones_removed(wire):
    reply = "A list comprehension builds a new list from an iterable [2]. It was invented in 1980 by Guido."
    llm, _ = wire([reply], [[hit(1, 0.8, COMPREHENSION), hit(2, 0.6, "Loops repeat a block of code.")]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["grounded"] and out["route"] == "course" and out["rewrites"] == 0
    assert len(llm.prompts) == 1  # generate only: no grader call
    assert out["answer"] == "A list comprehension builds a new list from an iterable [1]."  # cited to its real note
    assert "1980" not in out["answer"]
    assert [s["supported"] for s in out["support"]] == [True, False]
    assert out["verified"] == {"style": "generative", "sentences": 2, "supported": 1, "dropped": 1}


def test_trap_whose_rare_term_the_collection_never_uses_is_refused_without_any_llm_call(wire):
    cell = "The capitalize method of str returns a copy with the first letter upper-cased."
    llm, store = wire(["The capital of France is Paris [1]."], [[hit(1, 0.27, cell)]])
    out = graph.invoke({"question": "What is the capital of France?"})
    assert not out["grounded"] and "couldn't find" in out["answer"] and "Paris" not in out["answer"]
    assert llm.prompts == [] and out["rewrites"] == 0 and len(store.calls) == 1
    assert out["sources"][0]["source"] == "week01/notes.md"  # the closest material is still shown


@pytest.mark.parametrize(("score", "grounded"), [(0.31, False), (0.45, True)])
def test_a_note_far_in_meaning_must_hold_most_of_the_question(wire, score, grounded):
    note = "Many emoji take four bytes in UTF-8, while plain letters take one byte each."
    _, store = wire([], [[hit(1, score, note)]])
    store.extra = ["Designed by the team.", "A designed layout.", "Bytes and more bytes."]
    # "emoji" is held, "designed" is not: half the question's weight, which only a close note may answer with
    config = {"configurable": {"answer_style": "extractive", "max_rewrites": 0}}
    out = graph.invoke({"question": "Who designed the first emoji?"}, config)
    assert out["grounded"] is grounded


@pytest.mark.parametrize(
    ("question", "grounded"),
    [
        ("How do I sort a list of dictionaries by one of their fields?", True),  # "fields": the student's word
        ("How do I sort a list of dictionaries by their zorbly fields?", False),  # two words no chunk uses
        ("What does the zorbly dictionary do?", False),  # one other term: the unknown word is the topic
    ],
)
def test_one_word_the_materials_never_use_may_be_a_synonym(wire, question, grounded):
    note = "To sort a list of dictionaries, pass sorted() a key function that picks each dictionary's value."
    llm, _ = wire([], [[hit(1, 0.77, note)]])
    out = graph.invoke({"question": question}, {"configurable": {"answer_style": "extractive"}})
    assert out["grounded"] is grounded and llm.prompts == []


@pytest.mark.parametrize(
    ("question", "grounded"),
    [
        ("My program blows up when I sort a list of dictionaries by a key. How do I stop that?", True),
        ("How do I sort a list of dictionaries by the blows of a zorbly?", False),  # a noun: the topic
    ],
)
def test_an_unknown_word_in_a_verbs_place_is_not_the_subject(wire, question, grounded):
    """ "My program blows up…" was refused: "blows" is in no chunk. It says what happens; the other words ask."""
    note = "To sort a list of dictionaries, pass sorted() a key function that picks each dictionary's value."
    llm, store = wire([], [[hit(1, 0.45, note)]])
    store.extra = ["A program you stop."]  # the course's words, so that only "blows" (and "zorbly") are unknown
    out = graph.invoke({"question": question}, {"configurable": {"answer_style": "extractive", "max_rewrites": 0}})
    assert out["grounded"] is grounded and llm.prompts == []


def test_low_coverage_rewrites_then_refuses(wire):
    notes = [hit(1, 0.3, "Dictionaries map keys to values."), hit(2, 0.3, "A stock of apples.")]
    llm, store = wire(["stock market buy", "stock investing"], [notes])
    # The collection uses every word of the question somewhere ("stock" often), none of the notes holds "dividends".
    store.extra = ["Buy tickets this year.", "Dividends are paid yearly.", "stock", "Keep stock.", "A stock list."]
    out = graph.invoke({"question": "Which stock should I buy this year for dividends?"})
    assert not out["grounded"] and out["rewrites"] == 2
    assert [c["query"] for c in store.calls] == [
        "Which stock should I buy this year for dividends?",
        "stock market buy",
        "stock investing",
    ]
    assert len(llm.prompts) == 2  # rewrites only


def test_a_paraphrase_passes_on_similarity_only_for_the_students_own_words(wire):
    note = "Use break to leave a loop before it ends."
    _, store = wire(["Use break to leave a loop before it ends [1]."], [[hit(1, 0.7, note)]])
    store.extra = ["Call exit() to stop the program.", "An early return ends a function."]
    out = graph.invoke({"question": "How can I exit a loop early?"})
    assert out["grounded"] and "break" in out["answer"]


def test_unsupported_reply_falls_back_to_quoting_the_notes(wire):
    wire(["Python was created in 1991 in the Netherlands."], [[hit(1, 0.8, COMPREHENSION)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["grounded"] and out["verified"]["style"] == "extractive"
    assert f"> {COMPREHENSION[:-1]} [1]." in out["answer"] and "1991" not in out["answer"]


@pytest.mark.parametrize("reply", ["\n", "[7] [9]", "Note 1:", "Answer:"])
def test_empty_or_contentless_reply_ends_in_quotes_never_an_error(wire, reply):
    wire([reply], [[hit(1, 0.8, COMPREHENSION)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["grounded"] and COMPREHENSION[:-1] in out["answer"]


def test_extractive_style_needs_no_llm_call(wire):
    llm, _ = wire([], [[hit(1, 0.8, COMPREHENSION + " For example:\n\n```python\n[x * x for x in range(3)]\n```")]])
    out = graph.invoke({"question": "What is a list comprehension?"}, {"configurable": {"answer_style": "extractive"}})
    assert llm.prompts == [] and out["grounded"] and out["verified"]["style"] == "extractive"
    assert out["answer"].count("[1]") >= 1


def test_extractive_answer_quotes_the_sentence_just_before_a_code_only_chunk(wire):
    code = (
        "works, but:\n\n```python\nname = 'Darwin'\nname[0] = 'd'  # change one character of a string\n```\n\nTypeError"
    )
    _, store = wire([], [[hit(1, 0.53, code)]])
    before = "Lists and strings differ: we can change a list, but we cannot change one character of a string."
    store.sides = {"week01/notes.md": (before, "Next: loops.")}
    question = "Why does changing one character of a string give a TypeError?"
    out = graph.invoke({"question": question}, {"configurable": {"answer_style": "extractive"}})
    assert out["grounded"]
    assert "we cannot change one character of a string [1]." in out["answer"]
    assert before in out["sources"][0]["text"] and code in out["sources"][0]["text"]  # the note as quoted
    store.sides = {}
    out = graph.invoke({"question": question}, {"configurable": {"answer_style": "extractive"}})
    assert not out["grounded"]  # the chunk alone has no sentence to quote


def test_a_draft_that_fails_the_check_falls_back_to_quotes_read_with_their_neighbours(wire):
    code = "works, but:\n\n```python\nname[0] = 'd'  # change one character of a string\n```\n\nTypeError"
    _, store = wire(["Strings were made immutable in 1991 by the Dutch [1]."], [[hit(1, 0.6, code)]])
    before = "Lists and strings differ: we can change a list, but we cannot change one character of a string."
    store.sides = {"week01/notes.md": (before, "")}
    out = graph.invoke({"question": "Why does changing one character of a string give a TypeError?"})
    assert out["grounded"] and "1991" not in out["answer"]
    assert "we cannot change one character of a string [1]." in out["answer"]
    assert before in out["sources"][0]["text"]  # the source shown holds the quoted sentence


def test_a_reply_cut_off_mid_sentence_ends_at_its_last_whole_sentence(wire):
    reply = "A list comprehension builds a new list from an iterable. In this case, using `"
    wire([reply], [[hit(1, 0.8, COMPREHENSION)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["answer"] == "A list comprehension builds a new list from an iterable [1]."
    assert out["support"][-1]["supported"] is False


def test_llm_grader_can_only_veto_notes_the_evidence_accepted(wire):
    notes = [hit(1, 0.8, COMPREHENSION), hit(2, 0.75, "A list comprehension can filter with if.")]
    llm, _ = wire(['{"note_1": "yes", "note_2": "no"}', "A list comprehension builds a new list [1]."], [notes])
    config = {"configurable": {"llm_grader": True, "grade_accept_score": 1.0}}
    out = graph.invoke({"question": "What is a list comprehension?"}, config)
    assert [s["source"] for s in out["sources"]] == ["week01/notes.md"]
    assert "Note 2" not in llm.prompts[1][-1].content


def test_llm_grader_cannot_make_a_trap_relevant(wire):
    cell = "The capitalize method of str returns a copy with the first letter upper-cased."
    llm, _ = wire(['{"note_1": "yes"}', "Paris [1]."], [[hit(1, 0.27, cell)]])
    out = graph.invoke({"question": "What is the capital of France?"}, {"configurable": {"llm_grader": True}})
    assert not out["grounded"] and llm.prompts == []


def test_per_request_configuration_reaches_retrieval(wire):
    _, store = wire(["Generators yield values."], [[hit(3, 0.9, "Generators yield values lazily.")]])
    graph.invoke({"question": "generators?"}, {"configurable": {"k": 5, "module": "week03", "retrieval_mode": "bm25"}})
    assert store.calls[0]["k"] == 5 and store.calls[0]["module"] == "week03" and store.calls[0]["mode"] == "bm25"


def test_follow_up_is_condensed_with_history(wire):
    llm, store = wire(
        [
            "A list comprehension builds lists [1].",
            "How is a generator expression different from a list comprehension?",
            "It is lazy [1].",
        ],
        [[hit(1, 0.9, "A list comprehension builds lists. A generator expression is lazy.")]],
    )
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    first = mentor.invoke({"question": "What is a list comprehension?"})
    conversation = first["conversation_id"]  # issued by the server with the first answer
    second = mentor.invoke(
        {"question": "and how is that different from a generator expression?", "conversation_id": conversation}
    )
    assert second["conversation_id"] == conversation
    assert store.calls[1]["query"] == "How is a generator expression different from a list comprehension?"
    condense_prompt = llm.prompts[1][-1].content
    assert "What is a list comprehension?" in condense_prompt and "builds lists" in condense_prompt


def test_stream_yields_only_checked_text_which_adds_up_to_the_answer(wire):
    reply = "Lists are ordered collections. Lists were invented on the moon. Lists can hold items of any type."
    wire([reply], [[hit(1, 0.9, "Lists are ordered collections. Lists can hold items of any type.")]])
    chunks = list(MentorRunnable(create_graph(InMemorySaver())).stream({"question": "What is a list?"}))
    tokens = "".join(c["token"] for c in chunks if "token" in c)
    assert "moon" not in tokens and len([c for c in chunks if "token" in c]) == 2
    assert chunks[-1]["grounded"] and tokens == chunks[-1]["answer"]


def test_blank_question_is_rejected(wire):
    wire([], [[]])
    with pytest.raises(ValueError):
        MentorRunnable(create_graph(None)).invoke({"question": "   "})


def test_long_history_is_trimmed_to_the_budget(wire):
    from langchain_core.messages import HumanMessage

    from core.settings import get_settings
    from graph.graph import CourseNodes

    llm, store = wire(["Why does a word matter?"], [[]])
    history = []
    for turn in range(60):
        history += [HumanMessage(f"question {turn} " + "word " * 80), AIMessage(f"answer {turn} " + "word " * 80)]
    state = {"messages": [*history, HumanMessage("and why?")], "question": "and why?"}
    assert CourseNodes(store).condense_question(state, {})["query"] == "Why does a word matter?"
    prompt = llm.prompts[0][-1].content
    assert "answer 59" in prompt and "question 0 " not in prompt, "the most recent turns are kept"
    assert len(prompt) < get_settings().history_max_tokens * 4 + 1000


def test_prompts_name_the_configured_course_and_never_assume_python(wire, monkeypatch):
    from core.settings import get_settings
    from graph import prompts

    monkeypatch.setenv("COURSE_NAME", "Introduction to Biology")
    monkeypatch.setenv("COURSE_DESCRIPTION", "cells, photosynthesis, genetics and evolution")
    get_settings.cache_clear()
    llm, _ = wire(["Cells are the basic unit of life [1]."], [[hit(1, 0.8, "Cells are the basic unit of life.")]])
    out = graph.invoke({"question": "What are cells?"})
    system = llm.prompts[0][0].content
    assert "Introduction to Biology" in system and "Python" not in system and out["grounded"]
    templates = [getattr(prompts, name) for name in dir(prompts) if name.isupper()]
    assert not [t for t in templates if isinstance(t, str) and "python" in t.lower()]


def test_configuration_is_the_one_definition_of_request_knobs(monkeypatch):
    from dataclasses import fields

    from core.settings import get_settings
    from graph.configuration import Configuration, config_specs

    monkeypatch.setenv("TOP_K_RETRIEVAL", "4")
    get_settings.cache_clear()
    specs = {s.id: s for s in config_specs()}
    assert set(specs) == {f.name for f in fields(Configuration)}
    assert specs["k"].default == 4 and specs["module"].default == "" and all(s.description for s in specs.values())
    cfg = Configuration.from_runnable_config({"configurable": {"k": "50", "temperature": -3, "llm_grader": "true"}})
    assert (cfg.k, cfg.temperature, cfg.llm_grader, cfg.max_rewrites) == (20, 0.0, True, get_settings().max_rewrites)
    for bad in ({"retrieval_mode": "magic"}, {"k": "many"}, {"temperature": float("nan")}, {"module": 3}):
        with pytest.raises(ValueError):
            Configuration.from_runnable_config({"configurable": bad})


def test_stored_conversation_keeps_its_last_history_max_messages(wire, monkeypatch):
    monkeypatch.setenv("HISTORY_MAX_MESSAGES", "4")
    wire(["Hi!", "Hello!", "Hey!", "Welcome!"], [[]])
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    conversation = issue_conversation_id()
    for question in ("hello", "good morning", "hi", "hey there"):
        out = mentor.invoke({"question": question, "conversation_id": conversation})
    assert out["turns"] == 4
    assert mentor.graph is not None
    messages = mentor.graph.get_state({"configurable": {"thread_id": conversation}}).values["messages"]
    assert [m.content for m in messages] == ["hi", "Hey!", "hey there", "Welcome!"]


def test_sentence_check_knobs_default_to_settings_and_are_clamped(monkeypatch):
    from core.evidence import Thresholds
    from core.settings import get_settings
    from graph.configuration import Configuration, config_specs

    monkeypatch.setenv("SUPPORT_SIMILARITY", "0.45")
    monkeypatch.setenv("HISTORY_MAX_TOKENS", "512")
    get_settings.cache_clear()
    cfg = Configuration.from_runnable_config()
    assert (cfg.support_similarity, cfg.support_overlap, cfg.history_max_tokens) == (0.45, 0.6, 512)
    assert cfg.thresholds() == Thresholds(similarity=0.45, overlap=0.6)  # the rest of the operating point as before
    specs = {s.id: s for s in config_specs()}
    assert (specs["support_similarity"].default, specs["history_max_tokens"].default) == (0.45, 512)
    wild = {"support_similarity": 7, "support_overlap": -1, "history_max_tokens": 10**9}
    cfg = Configuration.from_runnable_config({"configurable": wild})
    assert (cfg.support_similarity, cfg.support_overlap, cfg.history_max_tokens) == (1.01, 0.0, 4096)


def test_what_the_deployment_fixes_comes_from_settings_never_from_a_request(monkeypatch):
    from dataclasses import fields

    from core.settings import get_settings
    from graph.configuration import Configuration, Deployment, config_specs

    monkeypatch.setenv("COURSE_NAME", "Biology")
    monkeypatch.setenv("COURSE_DESCRIPTION", "cells")
    monkeypatch.setenv("HISTORY_MAX_MESSAGES", "6")
    monkeypatch.setenv("LLM_CHAT_FORMAT", "mistral-instruct")
    get_settings.cache_clear()
    asked = {"course": "Hacking", "history_max_messages": 1000, "merge_system_prompt": False, "deployment": None}
    deployment = Configuration.from_runnable_config({"configurable": asked}).deployment
    assert deployment == Deployment(course="Biology (cells)", merge_system_prompt=True, history_max_messages=6)
    knobs = {f.name for f in fields(Configuration)}
    assert knobs == {s.id for s in config_specs()} and not knobs & {"deployment", "settings", *asked}


def test_a_per_request_sentence_threshold_changes_the_check(wire):
    note = "A list comprehension builds a new list from an iterable in one expression."
    reply = "A list comprehension builds a list in one line."  # cosine 0.83 to the note, 0.66 of its terms held
    wire([reply, reply], [[hit(1, 0.8, note)]])
    out = graph.invoke({"question": "What is a list comprehension?"})
    assert out["answer"] == "A list comprehension builds a list in one line [1]."
    assert out["verified"]["style"] == "generative"
    strict = {"configurable": {"support_similarity": 0.9}}
    out = graph.invoke({"question": "What is a list comprehension?"}, strict)
    assert out["support"][0]["supported"] is False and out["verified"]["style"] == "extractive"
    assert out["answer"].startswith("Here is what the course materials say:") and "one line" not in out["answer"]


def test_a_per_request_history_budget_reaches_the_condense_prompt(wire):
    from langchain_core.messages import HumanMessage

    from graph.graph import CourseNodes

    llm, store = wire(["standalone question", "standalone question"], [[]])
    condense_question = CourseNodes(store).condense_question
    history = []
    for turn in range(4):  # about 900 tokens: all of it within the default budget (1024)
        history += [HumanMessage(f"question {turn} " + "word " * 80), AIMessage(f"answer {turn} " + "word " * 80)]
    state = {"messages": [*history, HumanMessage("and why?")], "question": "and why?"}
    condense_question(state, {})
    condense_question(state, {"configurable": {"history_max_tokens": 300}})
    wide, narrow = (prompt[-1].content for prompt in llm.prompts)
    assert "question 0 " in wide and "question 3 " in narrow and "answer 3" in narrow and "answer 2" not in narrow


def test_the_quote_fallback_of_generate_is_the_quote_node(wire):
    code = "works, but:\n\n```python\nname[0] = 'd'  # change one character of a string\n```\n\nTypeError"
    _, store = wire(["Strings were made immutable in 1991 by the Dutch [1]."], [[hit(1, 0.6, code)]])
    store.sides = {"week01/notes.md": ("We cannot change one character of a string: strings are immutable.", "")}
    question = {"question": "Why does changing one character of a string give a TypeError?"}
    fallback = graph.invoke(question)
    quoted = graph.invoke(question, {"configurable": {"answer_style": "extractive"}})
    assert fallback["verified"]["style"] == "extractive" and fallback["grounded"]
    # counted over every sentence: the quote found, the dropped draft not (it was "0 of 1 found" above quotes)
    assert fallback["verified"] == {"style": "extractive", "sentences": 2, "supported": 1, "dropped": 1}
    assert (fallback["answer"], fallback["sources"]) == (quoted["answer"], quoted["sources"])


def test_the_store_given_to_the_graph_is_the_one_its_nodes_read(wire, monkeypatch):
    wire([], [[]])

    def no_process_store():
        raise AssertionError("a node read the process' store")

    monkeypatch.setattr(factories, "shared_store", no_process_store)
    store = FakeStore([[hit(1, 0.8, COMPREHENSION)]])
    store.sides = {"week01/notes.md": ("Before the comprehension.", "")}
    out = create_graph(store=store).invoke(
        {"question": "What is a list comprehension?"}, {"configurable": {"answer_style": "extractive"}}
    )
    assert out["grounded"] and len(store.calls) == 1
    assert out["sources"][0]["text"].startswith("Before the comprehension.")  # widened by the same store


@pytest.mark.parametrize(
    ("unit", "why"),
    [
        ("What pre-conditions and post-conditions would you write for it?", "question"),
        ("## Generator functions and the yield keyword", "heading"),
        ("Generator expression vs list comprehension", "heading"),
        ("Here we'll quickly outline the differences between them:", "announcement"),
        ("In this section we look at the ways a loop can end early.", "announcement"),
        ("Write a function that returns the largest of three numbers.", "exercise"),
        ("A tuple is like a list, but it cannot be changed once it is made.", None),
        ("keyword: A reserved word that is used to define the syntax of the language.", None),
        ("- `-r, --recursive`: copy directories recursively, with all they hold.", None),
        ("5. Loops that never end early", "heading"),  # a numbered section title
        ("1. generator functions and the `yield` keyword", "heading"),  # a notebook's list of contents
        ("1. OPENING A FILE WITH open() -----------------------------", "heading"),  # a plain-text title
        ("- cannot start with a digit", None),  # a rule in a bulleted list is an answer
        ("2. Press Ctrl+C to stop the program, then fix the condition", None),  # a step long enough to say something
    ],
)
def test_units_that_are_no_answer_are_never_quoted(unit, why):
    from graph.answer import not_an_answer

    assert not_an_answer([(1, segments(unit)[0])], 0) == why


def test_a_lead_in_that_introduces_code_may_be_quoted():
    from graph.answer import not_an_answer

    units = [(1, s) for s in segments("Here is how to loop over a list:\n\n```python\nfor x in xs:\n    print(x)\n```")]
    assert not_an_answer(units, 0) is None and not_an_answer(units, 1) == "code"


def test_a_condensed_follow_up_that_lost_the_question_is_built_from_the_student_s_words(wire):
    llm, store = wire(
        ["A tuple cannot be changed [1].", 'The course materials say: "The course materials say:', "x"],
        [[hit(1, 0.9, "A tuple cannot be changed. A set holds unique items.")]] * 2,
    )
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    first = mentor.invoke({"question": "What is the difference between a tuple and a list?"})
    mentor.invoke({"question": "And how is that different from a set?", "conversation_id": first["conversation_id"]})
    query = store.calls[1]["query"]
    assert query.startswith("And how is that different from a set?") and "tuple" in query and "list" in query


def test_an_extractive_follow_up_needs_no_llm_and_a_standalone_question_is_not_condensed(wire, monkeypatch):
    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    note = "A tuple is an ordered collection that cannot be changed. A set holds unique items in no order."
    llm, store = wire([], [[hit(1, 0.9, note)]] * 3)
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    first = mentor.invoke({"question": "What is a tuple in Python?"})
    again = {"conversation_id": first["conversation_id"]}
    follow = mentor.invoke({"question": "and what about sets?", **again})
    alone = mentor.invoke({"question": "What does a set hold, and in which order?", **again})
    assert llm.prompts == [] and follow["grounded"] and alone["grounded"]
    assert "tuple" in store.calls[1]["query"] and store.calls[2]["query"] == "What does a set hold, and in which order?"


class UnreachableChat(GenericFakeChatModel):
    """A model server that is down: every call fails to connect."""

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any):
        raise openai.APIConnectionError(request=httpx2.Request("POST", "http://llm"))  # openai 3 is built on httpx2


def test_an_extractive_question_nothing_answers_is_refused_with_the_model_down(wire, monkeypatch):
    """The extractive style needs no model: its optional rewrite must not turn an honest refusal into a 503."""
    _, store = wire([], [[hit(1, 0.2, "Loops repeat a block of code.")]])
    store.extra = ["Tuples are immutable sequences."]  # the question's words are the course's: no unknown term
    monkeypatch.setattr(factories, "get_llm", lambda *a, **k: UnreachableChat(messages=iter([])))
    config: Any = {"configurable": {"max_rewrites": 2, "answer_style": "extractive"}}
    out = graph.invoke({"question": "Why are tuples immutable?"}, config)
    assert not out["grounded"] and out["answer"] == prompts.NOT_COVERED and out["rewrites"] == 2
    config["configurable"]["answer_style"] = "generative"  # where the model is needed anyway, its outage is reported
    with pytest.raises(openai.APIConnectionError):
        graph.invoke({"question": "Why are tuples immutable?"}, config)


def test_a_question_that_points_back_is_read_with_the_earlier_turn_before_any_rewrite():
    from langchain_core.messages import HumanMessage

    from graph.graph import _evidence_question, decide_after_grading

    question = "How do I put one more value into it?"  # words enough of its own: not taken for a follow-up
    turns = [HumanMessage("How do I create a set?"), AIMessage("Use set()."), HumanMessage(question)]
    state: Any = {"question": question, "standalone": question, "messages": turns, "relevant": [], "rewrites": 0}
    config: Any = {"configurable": {"max_rewrites": 1}}
    assert decide_after_grading(state, config) == "condense_question"  # nothing answered it alone
    built = question + " create set"  # condense_question in code: the student's words plus the earlier question's
    assert _evidence_question({**state, "standalone": built}, "english") == built  # judged whole
    assert decide_after_grading({**state, "standalone": built}, config) == "rewrite_query"  # read once, then rewrite
    assert decide_after_grading({**state, "messages": turns[2:]}, config) == "rewrite_query"  # no earlier turn
    standalone = "What is a tuple used for?"  # points nowhere: its own words decide, nothing borrowed
    assert decide_after_grading({**state, "question": standalone, "standalone": standalone}, config) == "rewrite_query"


EXERCISE = "## Summing a list\n\nWrite a loop that calculates the sum of the numbers in a list."
SOLUTION = "## Solution\n\nTo write a loop that calculates the sum of a list, keep a running total in a variable."
SUM_QUESTION = "How do I write a loop that calculates the sum of the numbers in a list?"


def _exercise_notes(exercise_score: float = 0.6) -> tuple[Hit, Hit]:
    """A lesson's exercise and its worked solution as retrieval returns them (the solution first: it shares the
    question's words), and the store's lookup of each by its exercise's title."""
    meta = {"file_id": "f1", "exercise": "Summing a list", "source": "week01/loops.md"}
    exercise, solution = hit(1, exercise_score, EXERCISE), hit(1, 0.9, SOLUTION)
    exercise.id, solution.id = "e1", "s1"
    exercise.metadata.update(meta, seq=1, solution=False, headings="Summing a list")
    solution.metadata.update(meta, seq=2, solution=True, headings="Solution")
    FakeStore.exercises = {("f1", "Summing a list", False): [exercise], ("f1", "Summing a list", True): [solution]}
    return exercise, solution


def test_an_exercises_solution_is_held_back_until_asked_for(wire, monkeypatch):
    """HINTS_FIRST: the note that answers is a worked solution, so the exercise is quoted back first (and the
    answer names it); a student who asks for the solution, as the page's button does, gets it whole."""
    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    exercise, solution = _exercise_notes()
    wire([], [[solution, exercise]] * 3)
    first = graph.invoke({"question": SUM_QUESTION})
    assert first["grounded"] and first["held_back"] == "Summing a list"
    assert first["answer"].startswith(prompts.EXERCISE_INTRO) and "Write a loop that calculates" in first["answer"]
    assert "running total" not in first["answer"] and "running total" not in str(first["sources"])
    assert [s["source"] for s in first["sources"]] == ["week01/loops.md"]

    asked = graph.invoke({"question": "Show me the solution to “Summing a list”"})
    assert asked["grounded"] and asked["held_back"] == ""
    assert asked["answer"].startswith(prompts.SOLUTION_INTRO)
    assert "keep a running total in a variable [1]" in asked["answer"] and "Write a loop" not in asked["answer"]


def test_the_solution_asked_for_by_name_is_the_held_back_exercises_whatever_the_search_finds(wire, monkeypatch):
    """The page's "Show the solution" names the exercise its answer held back: the conversation remembers which
    exercise of which file that was, so the request gets its solution even when the search finds other notes
    (a title as bare as "Exercise 2" finds any exercise); a title the conversation never held back gets nothing
    special."""
    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    exercise, solution = _exercise_notes()
    wire([], [[solution, exercise], [hit(2, 0.7, COMPREHENSION)], [hit(2, 0.7, COMPREHENSION)]])
    tutor, thread = create_graph(InMemorySaver()), {"configurable": {"thread_id": "t"}}
    assert tutor.invoke({"question": SUM_QUESTION}, thread)["held_back"] == "Summing a list"
    other = tutor.invoke({"question": "Show me the solution to “Summing a dict”"}, thread)
    assert not other["answer"].startswith(prompts.SOLUTION_INTRO) and "running total" not in other["answer"]
    asked = tutor.invoke({"question": "Show me the solution to “Summing a list”"}, thread)
    assert asked["answer"].startswith(prompts.SOLUTION_INTRO) and "running total" in asked["answer"]
    assert [s["source"] for s in asked["sources"]] == ["week01/loops.md"]


def test_a_question_that_matches_the_exercise_itself_gets_it_back_too(wire, monkeypatch):
    """The best note is the exercise's task (the solution is not among the relevant notes): still the exercise,
    with its solution offered, and in the generative style too no draft is written from it (a draft would solve
    it): the model is never called."""
    _, solution = _exercise_notes(exercise_score=0.95)
    exercise = FakeStore.exercises[("f1", "Summing a list", False)][0]
    llm, _ = wire([], [[exercise]])
    out = graph.invoke({"question": "How do I write a loop that calculates the sum of the numbers in a list?"})
    assert out["held_back"] == "Summing a list" and out["answer"].startswith(prompts.EXERCISE_INTRO)
    assert llm.prompts == [] and "running total" not in out["answer"]


def test_a_question_merely_near_an_exercise_is_answered_from_its_notes(wire, monkeypatch):
    """The closest note is part of an exercise but not close (cosine below EXERCISE_MATCH: "What does the @
    operator do?" got the lists lesson's `counts * 2` exercise at 0.48): no exercise is given back, and the
    question is answered from the notes as it would be without exercises, in either mode."""
    from graph.graph import EXERCISE_MATCH

    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    exercise, solution = _exercise_notes(exercise_score=EXERCISE_MATCH - 0.1)
    solution.cosine = EXERCISE_MATCH - 0.05
    for hints_first in ("true", "false"):
        monkeypatch.setenv("HINTS_FIRST", hints_first)
        wire([], [[solution, exercise]])
        out = graph.invoke({"question": SUM_QUESTION})
        assert out["grounded"] and out["held_back"] == "", out
        assert not out["answer"].startswith((prompts.EXERCISE_INTRO, prompts.SOLUTION_INTRO)), out["answer"]
    solution.cosine = EXERCISE_MATCH  # at the bar: the exercise comes back
    monkeypatch.setenv("HINTS_FIRST", "true")
    wire([], [[solution, exercise]])
    assert graph.invoke({"question": SUM_QUESTION})["held_back"] == "Summing a list"


@pytest.mark.parametrize("order", ["lesson first", "solution first"])
def test_a_question_other_material_answers_more_closely_is_answered_as_without_exercises(wire, monkeypatch, order):
    """The note closest in meaning is the lesson (cosine 0.95; the solution 0.9), whichever the fused ranking puts
    first: the lesson answers, no exercise is offered, and the answer is the one HINTS_FIRST=false gives."""
    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    _, solution = _exercise_notes()
    lesson = hit(2, 0.95, "A loop that calculates the sum of the numbers in a list adds each number to the sum.")
    notes = [lesson, solution] if order == "lesson first" else [solution, lesson]
    outs = []
    for hints_first in ("true", "false"):
        monkeypatch.setenv("HINTS_FIRST", hints_first)
        wire([], [notes])
        outs.append({k: v for k, v in graph.invoke({"question": "How do I add up the numbers in a list?"}).items()})
    out = outs[0]
    assert out["grounded"] and out["held_back"] == "" and "adds each number to the sum" in out["answer"]
    assert not out["answer"].startswith(prompts.EXERCISE_INTRO)
    assert {k: v for k, v in out.items() if k != "turns"} == {k: v for k, v in outs[1].items() if k != "turns"}


def test_hints_first_off_answers_with_the_solution_at_once(wire, monkeypatch):
    monkeypatch.setenv("ANSWER_STYLE", "extractive")
    monkeypatch.setenv("HINTS_FIRST", "false")
    exercise, solution = _exercise_notes()
    wire([], [[solution, exercise]])
    out = graph.invoke({"question": SUM_QUESTION})
    assert out["grounded"] and out["held_back"] == "" and "running total" in out["answer"]
    assert out["answer"].startswith(prompts.SOLUTION_INTRO) and "Write a loop" not in out["answer"]


@pytest.mark.parametrize("style", ["extractive", "generative"])
@pytest.mark.parametrize(
    "question", ["What is a list comprehension?", "Show me the solution for building a list in one expression"]
)
def test_a_question_no_exercise_answers_is_answered_as_without_hints_first(wire, monkeypatch, style, question):
    """No relevant note belongs to an exercise: HINTS_FIRST changes nothing, not even for a question that asks for
    "the solution": the same answer, sources and path (the model's draft in the generative style)."""
    monkeypatch.setenv("ANSWER_STYLE", style)
    _exercise_notes()  # the store holds an exercise; retrieval does not find it
    reply = "A list comprehension builds a new list from an iterable [1]."
    outs = []
    for hints_first in ("true", "false"):
        monkeypatch.setenv("HINTS_FIRST", hints_first)
        llm, _ = wire([reply], [[hit(1, 0.8, COMPREHENSION), hit(2, 0.6, "Loops repeat a block of code.")]])
        out = graph.invoke({"question": question})
        outs.append(({k: v for k, v in out.items() if k != "turns"}, len(llm.prompts)))
    assert outs[0] == outs[1]
    assert outs[0][0]["held_back"] == "" and outs[0][0]["grounded"]
    assert outs[0][1] == (1 if style == "generative" else 0)
