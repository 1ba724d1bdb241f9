"""The tutor graph: nodes (verbs), routers (pure functions) and wiring.

START → route ─┬─ chat ─────────────────────────────→ respond → END
               └─ course → [condense_question] → retrieve → grade_documents ─┬→ generate → END
                                                    ↑                        ├→ rewrite_query ─┘(≤ max_rewrites)
                                                    └────────────────────────┴→ refuse → END

Common path: 2 LLM calls (grade + generate), sharing the excerpts as a prompt prefix.
"""

from __future__ import annotations

import logging
from typing import Literal

from langchain_core.messages import AIMessage, HumanMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from core import factories
from core.settings import get_settings
from graph import prompts
from graph.configuration import Configuration
from graph.state import Candidate, InputState, MentorState, OutputState
from graph.utils import (
    GradeParseError,
    as_messages,
    finalize_citations,
    format_excerpts,
    format_history,
    grade_schema,
    is_small_talk,
    note_list,
    parse_grade,
    preview,
    says_not_covered,
    strip_echo,
    to_source,
)

log = logging.getLogger(__name__)


# LLM calls whose tokens are the answer a student reads: servers stream exactly the calls with this tag.
ANSWER_TAG = "answer"
# Small models drift into reciting the prompt; cut them off where that starts.
STOP = ["\nQuestion:", "\nNote ", "\nCourse notes:"]


def _llm(config: RunnableConfig, *, max_tokens: int | None = None, tags: list[str] | None = None):  # type: ignore[no-untyped-def]
    cfg = Configuration.from_runnable_config(config)
    limit = factories.completion_limit(max_tokens or cfg.max_tokens)
    llm = factories.get_llm().bind(temperature=cfg.temperature, stop=STOP, **limit)
    return llm.with_config(tags=tags or [])


def _messages(user: str, system: str = prompts.SYSTEM_PROMPT) -> list:  # type: ignore[type-arg]
    return as_messages(system, user, get_settings().merge_system_prompt)


def _context(question: str, candidates: list[Candidate]) -> str:
    return prompts.CONTEXT_TEMPLATE.format(excerpts=format_excerpts(candidates), question=question)


# ---- nodes ----------------------------------------------------------------------------------------
def route(state: MentorState) -> dict:
    """Start a turn: record the question, reset per-turn fields, and classify it."""
    question = state.get("question", "").strip()
    return {
        "messages": [HumanMessage(question)],
        "turns": state.get("turns", 0) + 1,
        "route": "chat" if is_small_talk(question) else "course",
        "query": question,
        "rewrites": 0,
        "candidates": [],
        "relevant": [],
        "sources": [],
        "answer": "",
        "grounded": False,
        "grade_error": "",
    }


def condense_question(state: MentorState, config: RunnableConfig) -> dict:
    """Turn a follow-up into a standalone query using the (trimmed) conversation."""
    history = trim_messages(
        state["messages"][:-1],
        max_tokens=get_settings().history_max_tokens,
        token_counter=count_tokens_approximately,
        strategy="last",
        start_on="human",
    )
    prompt = prompts.CONDENSE_PROMPT.format(history=format_history(history), question=state["question"])
    reply = _llm(config, max_tokens=64).invoke([HumanMessage(prompt)])
    query = str(reply.content).strip().splitlines()[0].strip() if str(reply.content).strip() else ""
    return {"query": query or state["question"]}


def retrieve(state: MentorState, config: RunnableConfig) -> dict:
    cfg = Configuration.from_runnable_config(config)
    hits = factories.shared_store().search(
        state["query"], cfg.k, mode=cfg.retrieval_mode, module=cfg.module, floor=cfg.relevance_floor
    )
    candidates = [Candidate(id=h.id, text=h.text, metadata=h.metadata, score=h.cosine) for h in hits]
    # Notes relevant on similarity alone come first, the grey zone last: when the grader drops a grey-zone
    # note, the generator's prompt still shares everything before it with the grader's (llama.cpp reuses it).
    candidates.sort(key=lambda c: c["score"] < cfg.grade_accept_score)
    return {"candidates": candidates}


def grade_documents(state: MentorState, config: RunnableConfig) -> dict:
    """Judge the grey-zone candidates in one grammar-constrained LLM call, guarded by retrieval evidence.

    Candidates at or above `grade_accept_score` are relevant on similarity alone (a 135M model's yes/no is
    close to chance); the LLM decides the grey zone between the relevance floor and that score. When
    nothing is in the grey zone the call is skipped. A malformed reply makes no grey-zone chunk relevant.
    """
    cfg = Configuration.from_runnable_config(config)
    candidates = state.get("candidates", [])
    accepted = [n for n, c in enumerate(candidates, start=1) if c["score"] >= cfg.grade_accept_score]
    grey = [n for n in range(1, len(candidates) + 1) if n not in accepted]
    if not grey:
        return {"relevant": accepted, "grade_error": ""}
    # Grey-zone notes are shown only up to `grade_note_chars`: the grader reads less of the notes it drops.
    shown = [
        Candidate(**{**c, "text": preview(c["text"], cfg.grade_note_chars)}) if n in grey else c
        for n, c in enumerate(candidates, start=1)
    ]
    task = prompts.GRADE_TASK.format(notes=note_list(grey))
    llm = _llm(config, max_tokens=16 * len(grey) + 8, tags=["grader"]).bind(
        response_format={"type": "json_object", "schema": grade_schema(grey)}
    )
    reply = llm.invoke(_messages(_context(state["question"], shown) + "\n" + task))
    try:
        voted = parse_grade(str(reply.content), grey)
    except GradeParseError as exc:
        log.warning("grader reply rejected: %s", exc)
        return {"relevant": accepted, "grade_error": str(exc)}
    return {"relevant": sorted(set(accepted) | set(voted)), "grade_error": ""}


def rewrite_query(state: MentorState, config: RunnableConfig) -> dict:
    prompt = prompts.REWRITE_PROMPT.format(question=state["question"], query=state["query"])
    reply = _llm(config, max_tokens=48).invoke([HumanMessage(prompt)])
    lines = str(reply.content).strip().splitlines()
    new_query = lines[0].strip().strip('"') if lines else ""
    return {"query": new_query or state["question"], "rewrites": state.get("rewrites", 0) + 1}


def generate(state: MentorState, config: RunnableConfig) -> dict:
    """Answer from the graded-relevant excerpts only, citing them as [n] ↔ sources[n-1]."""
    candidates = state["candidates"]
    used = [candidates[i - 1] for i in state["relevant"]]
    # Same notes as the grader saw → same prompt prefix → llama.cpp skips re-reading it.
    reply = _llm(config, tags=[ANSWER_TAG]).invoke(
        _messages(_context(state["question"], used) + "\n" + prompts.GENERATE_TASK)
    )
    answer, cited = finalize_citations(strip_echo(str(reply.content)), len(used))
    if says_not_covered(answer) and not any(f"[{n}]" in answer.split("Sources:")[0] for n in cited):
        return _not_covered(state)
    sources = [to_source(n, used[n - 1]) for n in range(1, len(used) + 1)]
    return {"answer": answer, "sources": sources, "grounded": True, "messages": [AIMessage(answer)]}


def refuse(state: MentorState) -> dict:
    """The honest end when nothing relevant was found: no invented answer, the closest sources instead."""
    return _not_covered(state)


def _not_covered(state: MentorState) -> dict:
    closest = state.get("candidates", [])
    sources = [to_source(n, c) for n, c in enumerate(closest, start=1)]
    answer = prompts.NOT_COVERED
    if sources:
        answer += (
            "\n\n"
            + prompts.CLOSEST_SOURCES
            + "\n"
            + "\n".join(f"[{s['n']}] {s['source']}" + (f" ({s['headings']})" if s["headings"] else "") for s in sources)
        )
    return {"answer": answer, "sources": sources, "grounded": False, "messages": [AIMessage(answer)]}


def respond(state: MentorState, config: RunnableConfig) -> dict:
    """Small talk and questions about the tutor: a short reply, no retrieval."""
    reply = _llm(config, max_tokens=96, tags=[ANSWER_TAG]).invoke(
        _messages(state["question"], system=prompts.CHAT_SYSTEM_PROMPT)
    )
    answer = strip_echo(str(reply.content)) or "Hello! Ask me anything about your course materials."
    return {"answer": answer, "sources": [], "grounded": False, "messages": [AIMessage(answer)]}


# ---- routers --------------------------------------------------------------------------------------
def route_question(state: MentorState) -> Literal["respond", "condense_question", "retrieve"]:
    if state["route"] == "chat":
        return "respond"
    earlier_turns = any(isinstance(m, AIMessage) for m in state.get("messages", []))
    return "condense_question" if earlier_turns else "retrieve"


def decide_after_grading(state: MentorState, config: RunnableConfig) -> Literal["generate", "rewrite_query", "refuse"]:
    if state.get("relevant"):
        return "generate"
    if state.get("rewrites", 0) < Configuration.from_runnable_config(config).max_rewrites:
        return "rewrite_query"
    return "refuse"


# ---- wiring ---------------------------------------------------------------------------------------
builder = StateGraph(MentorState, input_schema=InputState, output_schema=OutputState)
builder.add_node(route)
builder.add_node(condense_question)
builder.add_node(retrieve)
builder.add_node(grade_documents)
builder.add_node(rewrite_query)
builder.add_node(generate)
builder.add_node(refuse)
builder.add_node(respond)
builder.add_edge(START, "route")
builder.add_conditional_edges("route", route_question)
builder.add_edge("condense_question", "retrieve")
builder.add_edge("retrieve", "grade_documents")
builder.add_conditional_edges("grade_documents", decide_after_grading)
builder.add_edge("rewrite_query", "retrieve")
builder.add_edge("generate", END)
builder.add_edge("refuse", END)
builder.add_edge("respond", END)



def create_graph(checkpointer: BaseCheckpointSaver | None = None) -> CompiledStateGraph:
    """The compiled tutor graph; the server passes its conversation checkpointer, Studio and tests none."""
    return builder.compile(checkpointer=checkpointer, name=GRAPH_NAME)


GRAPH_NAME = "AI Mentor"
graph = create_graph()
