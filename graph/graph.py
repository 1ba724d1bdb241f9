"""The tutor graph: nodes (verbs), routers (pure functions) and wiring.

START → route ─┬─ chat ─────────────────────────────→ respond → END
               └─ course → [condense_question] → retrieve → grade_documents ─┬→ generate → END   (checked)
                                                    ↑                        ├→ quote → END      (extractive)
                                                    │                        ├→ rewrite_query ─┘(≤ max_rewrites)
                                                    └────────────────────────┴→ refuse → END

Whether the notes can answer is decided by evidence checked in code (core/evidence.py): similarity, and how
much of the question's rare terms a note holds. Every sentence the model writes is checked against the
notes before the student sees it. Common path: one LLM call (generate), none with ANSWER_STYLE=extractive.

Every tunable a node uses comes from the request's `Configuration` (graph/configuration.py), what the deployment
fixes from its `Deployment`; the course store is given to the graph (`create_graph`), and the nodes that read it
are bound to it (`CourseNodes`).
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Literal, Protocol

import openai
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, RemoveMessage, trim_messages
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from core import factories
from core.answer import Style
from core.evidence import NoteIndex, TermStats, coverage
from core.retrieval import Hit
from core.settings import RetrievalMode, get_settings
from core.slots import SlotLimited
from core.text import behaviour_words, exact_tokens, stems, terms
from graph import prompts
from graph.answer import MAX_SOLUTION_UNITS, CheckedAnswer, DraftChecker, extractive, statement, widen
from graph.configuration import Configuration, Deployment
from graph.state import Candidate, InputState, MentorState, OutputState
from graph.utils import (
    GradeParseError,
    as_messages,
    code_named,
    format_excerpts,
    format_history,
    grade_schema,
    is_follow_up,
    is_small_talk,
    keeps_the_question,
    note_list,
    parse_grade,
    points_back,
    preview,
    small_talk_kind,
    strip_echo,
    to_source,
)

log = logging.getLogger(__name__)

# LLM calls whose tokens are the answer a student reads: servers stream exactly the calls with this tag.
# The generator's raw tokens are not tagged: only sentences that passed the check are streamed (custom events).
ANSWER_TAG = "answer"
# Small models drift into reciting the prompt; cut them off where that starts.
STOP = ["\nQuestion:", "\nNote ", "\nCourse notes:"]


class Store(Protocol):
    """What the nodes read of the course store (core/store.py's CourseStore; tests bring a fake one)."""

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: RetrievalMode | None = None,
        module: str | None = None,
        floor: float | None = None,
    ) -> list[Hit]:
        """The chunks closest to the query, best first."""
        ...

    def term_stats(self) -> TermStats:
        """How rare each term is in the collection, in the language it was built in."""
        ...

    def neighbours(self, chunks: list[dict[str, Any]]) -> list[tuple[str, str]]:
        """The text just before and just after each chunk in its section."""
        ...

    def exercise(self, file_id: str, title: str, solution: bool = False) -> list[Hit]:
        """The chunks of one exercise of a file (or of its solution), in file order."""
        ...


def _llm(
    config: RunnableConfig, *, max_tokens: int | None = None, tags: list[str] | None = None
) -> Runnable[LanguageModelInput, BaseMessage]:
    cfg = Configuration.from_runnable_config(config)
    limit = factories.completion_limit(max_tokens or cfg.max_tokens)
    llm = factories.get_llm().bind(temperature=cfg.temperature, stop=STOP, **limit)
    return SlotLimited(llm.with_config(tags=tags or []), factories.llm_slots())


def build_messages(user: str, system: str | None = None, *, deployment: Deployment | None = None) -> list[AnyMessage]:
    """System + user turn for the deployment's chat format (the system text names its course). Nodes pass their
    request's `deployment`; a caller outside a graph (bench/load.py) gets the process Settings'."""
    deployment = deployment or Deployment.from_settings(get_settings())
    system = system if system is not None else prompts.SYSTEM_PROMPT.format(course=deployment.course)
    return as_messages(system, user, deployment.merge_system_prompt)


def build_context(question: str, candidates: list[Candidate]) -> str:
    """The shared prompt opening: the notes, then the question."""
    return prompts.CONTEXT_TEMPLATE.format(excerpts=format_excerpts(candidates), question=question)


def _note_context(candidate: Candidate) -> str:
    """A note as evidence reads it: its title and heading path say what it is about too."""
    meta = candidate["metadata"]
    return "\n".join(str(x) for x in (meta.get("title"), meta.get("headings"), candidate["text"]) if x)


def _evidence_question(state: MentorState, language: str) -> str:
    """The student's own words decide, not a rewrite: a rewritten query may borrow the notes' terms. Only a
    follow-up with no terms of its own ("why?") is judged by its standalone form. `language`: the materials'
    (the collection's term statistics are built in it)."""
    question = state["question"]
    standalone = state.get("standalone") or question
    if not terms(question, language):
        return standalone
    # A follow-up condensed in code is the student's own words plus their earlier question's: judged whole.
    return standalone if standalone != question and standalone.startswith(question.strip()) else question


# The student asks for the worked solution itself ("Show me the solution", the page's button; "the answer to
# exercise 3"): HINTS_FIRST holds nothing back. "How do I solve…" is a question, and gets the exercise first.
ASKS_FOR_SOLUTION = re.compile(
    r"\b(solutions?|answers? (?:to|for|of) (?:the|this|that|exercise)|worked answers?)\b", re.I
)
# A question is matched to an exercise only when its closest note is this close (cosine): on the honesty dev split
# the three exercises given back were "What happens if I multiply a list by 2…" → the lists lesson's `counts * 2`
# exercise (0.64, right), "What does the @ operator do?" → that same exercise (0.48) and "How do I count how many
# times each word shows up?" → a loop-counting exercise (0.51), both wrong.
EXERCISE_MATCH = 0.55
MAX_HELD_BACK = 20  # exercises a conversation remembers holding back, for "Show the solution" under an older answer
_INDEX_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="note-index")


def _matched_exercise(candidates: list[Candidate], relevant: list[int]) -> Candidate | None:
    """The note by which the question matches an exercise: the relevant note closest in meaning to the question,
    when it is part of one (its task, hints or solution); None otherwise. Closest by cosine, not first in the fused
    ranking: "How do I make range() count backwards?" ranked swc's "From 1 to N" exercise first (cosine 0.64) above
    the handout that answers it (0.79), and got the exercise back (honesty test split: gold cited 93.9 → 91.8 %).

    And close enough to be about the exercise (EXERCISE_MATCH): a question that is merely near one is answered
    from the notes."""
    best = max((candidates[n - 1] for n in relevant), key=lambda c: c["score"], default=None)
    if best is None or not best["metadata"].get("exercise") or best["score"] < EXERCISE_MATCH:
        return None
    return best


def _names(question: str, title: str) -> bool:
    """The question names the exercise: its whole title, not inside a longer word or number ("Exercise 2" is not
    named by "exercise 21")."""
    return re.search(rf"(?<!\w){re.escape(title)}(?!\w)", question, re.IGNORECASE) is not None


def _finish(state: MentorState, used: list[Candidate], answer: CheckedAnswer) -> dict[str, Any]:
    """The turn's output from a checked answer; nothing supported at all is an honest refusal."""
    if not answer.grounded:
        return {**_not_covered(state), "support": [s.support() for s in answer.support], "verified": answer.verified()}
    sources = [to_source(n, c) for n, c in enumerate(used, start=1)]
    return {
        "answer": answer.text,
        "sources": sources,
        "grounded": True,
        "support": [s.support() for s in answer.support],
        "verified": answer.verified(),
        "messages": [AIMessage(answer.text)],
    }


# ---- nodes ----------------------------------------------------------------------------------------
def route(state: MentorState, config: RunnableConfig) -> dict[str, Any]:
    """Start a turn: record the question, reset per-turn fields, and classify it.

    The stored conversation keeps the deployment's last `history_max_messages`: the oldest make room for this
    turn's two."""
    question = state.get("question", "").strip()
    history = state.get("messages", [])
    keep = Configuration.from_runnable_config(config).deployment.history_max_messages
    over = max(0, len(history) + 2 - keep)
    return {
        "messages": [*(RemoveMessage(id=str(m.id)) for m in history[:over]), HumanMessage(question)],
        "turns": state.get("turns", 0) + 1,
        "route": "chat" if is_small_talk(question) else "course",
        "query": question,
        "standalone": question,
        "rewrites": 0,
        "candidates": [],
        "relevant": [],
        "evidence": [],
        "unknown_terms": [],
        "sources": [],
        "answer": "",
        "grounded": False,
        "support": [],
        "verified": {},
        "grade_error": "",
        "held_back": "",
        "solution_of": "",
    }


def _earlier_question(messages: list[AnyMessage]) -> str:
    """The student's question before this turn's (the last human message but one)."""
    asked = [m for m in messages if isinstance(m, HumanMessage)]
    return str(asked[-2].content) if len(asked) >= 2 else ""


class CourseNodes:
    """The nodes that read the course store, bound to the store their graph was built with (`create_graph`)."""

    def __init__(self, store: Store | None = None) -> None:
        self._store = store

    @property
    def store(self) -> Store:
        """The store given to the graph; none given: the process' one store (core.factories.shared_store, itself
        opened once), found when a node first needs it: the module's `graph` is built at import, and opening the
        store there would hold Milvus Lite's file in every process that merely imports the graph."""
        return self._store if self._store is not None else factories.shared_store()

    def condense_question(self, state: MentorState, config: RunnableConfig) -> dict[str, Any]:
        """Turn a follow-up into a standalone query. The model's rewrite (from the conversation, trimmed to
        `history_max_tokens`) is used only when it keeps the student's words and names the earlier topic; otherwise,
        and always in the extractive style (no model needed, so a follow-up is answered with the LLM down), the query
        is built in code: the student's words plus the earlier question's terms."""
        cfg = Configuration.from_runnable_config(config)
        language = self.store.term_stats().language
        question = state["question"]
        earlier = _earlier_question(state["messages"])
        own, before = terms(question, language), terms(earlier, language)
        # The earlier question's code names too: "dict.get()" leaves only "dict" among its terms ("get" is a
        # stop word), and "And what if I give it a second argument?" was then read as being about dicts.
        said = question.lower()
        names = [x for x in sorted(exact_tokens(earlier)) if not x.isdigit() and x not in said and x not in before]
        built = " ".join([question.strip(), *[t for t in dict.fromkeys(before) if t not in own], *names]).strip()
        if cfg.answer_style == "extractive":
            return {"query": built, "standalone": built}
        history = trim_messages(
            state["messages"][:-1],
            max_tokens=cfg.history_max_tokens,
            token_counter=count_tokens_approximately,
            strategy="last",
            start_on="human",
        )
        prompt = prompts.CONDENSE_PROMPT.format(history=format_history(history), question=question)
        reply = _llm(config, max_tokens=64).invoke([HumanMessage(prompt)])
        query = str(reply.content).strip().splitlines()[0].strip() if str(reply.content).strip() else ""
        have = stems(terms(query, language), language)
        if not query or not keeps_the_question(query, stems(own, language), stems(before, language), have):
            query = built
        return {"query": query, "standalone": query}

    def retrieve(self, state: MentorState, config: RunnableConfig) -> dict[str, Any]:
        """Hybrid search for the current query; junk below the relevance floor never comes back."""
        cfg = Configuration.from_runnable_config(config)
        hits = self.store.search(
            state["query"], cfg.k, mode=cfg.retrieval_mode, module=cfg.module, floor=cfg.relevance_floor
        )
        return {"candidates": [Candidate(id=h.id, text=h.text, metadata=h.metadata, score=h.cosine) for h in hits]}

    def grade_documents(self, state: MentorState, config: RunnableConfig) -> dict[str, Any]:
        """Keep the notes whose evidence shows they can answer the question; no model opinion needed.

        A note counts when it holds `min_coverage` of the question's salient terms weighted by their rarity in the
        collection, or when it is a close paraphrase (cosine ≥ `strong_similarity`). Weak evidence on one side
        needs strong evidence on the other: a note far in meaning (cosine < `weak_similarity`) must hold
        `weak_min_coverage` of the terms ("Who designed the first emoji?" against "many emoji take four bytes":
        cosine 0.31, one term of two). "What is the capital of France?" against a `capitalize()` cell: a term no
        chunk uses → not relevant, unless it is the question's only such word and a note close in meaning
        (cosine ≥ `synonym_similarity`) holds `weak_min_coverage` of the others: "fields" of a dictionary,
        "a placeholder statement" are the student's words for what the notes call otherwise. With `llm_grader`
        on, one grammar-constrained LLM call may then veto some of those notes (never add one): for strong models
        only.
        """
        cfg = Configuration.from_runnable_config(config)
        candidates = state.get("candidates", [])
        stats = self.store.term_stats()
        question = _evidence_question(state, stats.language)
        wanted = list(dict.fromkeys(terms(question, stats.language)))
        unknown = stats.unknown(wanted) if cfg.refuse_unknown_terms else []
        # "My program blows up…": an unknown word in a verb's place is the student's word for what happens; the
        # other words must answer, by the usual rule, as though it were not there.
        everyday = behaviour_words(question, unknown, stats.language)
        unknown = [t for t in unknown if t not in everyday]
        wanted = [t for t in wanted if t not in everyday]
        # Cosine is to the search query: only for the student's own words does it say "paraphrase".
        own_words = state.get("query", question) in (question, state["question"])
        evidence: list[dict[str, Any]] = []
        relevant: list[int] = []
        rule = cfg.answerability()
        for n, c in enumerate(candidates, start=1):
            context = _note_context(c)
            cov = coverage(question, context, stats, leave_out=everyday)
            rest = coverage(question, context, stats, leave_out=unknown + everyday).score if unknown else 0.0
            ok = rule.can_answer(
                c["score"], cov.score, own_words=own_words, unknown=len(unknown), rest=rest, terms=len(wanted)
            )
            evidence.append({
                "coverage": round(cov.score, 3), "rest": round(rest, 3), "missing": cov.missing[:5], "relevant": ok
            })  # fmt: skip
            if ok:
                relevant.append(n)
        update: dict[str, Any] = {
            "relevant": relevant,
            "evidence": evidence,
            "unknown_terms": unknown,
            "grade_error": "",
        }
        if cfg.llm_grader and relevant:
            update.update(llm_veto(state, config, relevant))
        # An exercise the question matches: its solution when asked for (or with HINTS_FIRST off), else the exercise.
        if not cfg.deployment.hints_first or ASKS_FOR_SOLUTION.search(state["question"]):
            update.update(self._give_solution(state, candidates, update["relevant"]))
        else:
            update.update(self._hold_back_solutions(state, candidates, update["relevant"]))
        return update

    def _hold_back_solutions(
        self, state: MentorState, candidates: list[Candidate], relevant: list[int]
    ) -> dict[str, Any]:
        """HINTS_FIRST: a question that matches an exercise gets the exercise itself, so the student is asked to try
        it first. A question that matches other material more closely is answered from it as it would be without
        exercises ({}): leaving out the solutions among its notes cost answers on the honesty test split (a
        Carpentries solution often states the lesson's point: key facts 57.1 → 55.1 %)."""
        note = _matched_exercise(candidates, relevant)
        if note is None:
            return {}
        exercise = self._exercise(note, solution=False)
        if not exercise:
            return {}
        title, file_id = str(note["metadata"]["exercise"]), str(note["metadata"]["file_id"])
        held = {t: f for t, f in state.get("exercises", {}).items() if t != title}
        # The exercise alone: other notes quoted under "try it yourself" would read as part of it, or solve it.
        return {
            **self._only(candidates, exercise),
            "held_back": title,
            "exercises": dict(list({**held, title: file_id}.items())[-MAX_HELD_BACK:]),
        }

    def _give_solution(self, state: MentorState, candidates: list[Candidate], relevant: list[int]) -> dict[str, Any]:
        """The student asks for the solution (or HINTS_FIRST is off): of an exercise this conversation held back that
        the question names ("Show me the solution to “Burning methane”", the page's button: found whatever the
        search returns), else of the exercise the question matches, the whole worked solution is the answer ({} when
        neither: the answer is as it would be without exercises)."""
        named = [(t, f) for t, f in state.get("exercises", {}).items() if _names(state["question"], t)]
        note = _matched_exercise(candidates, relevant)
        if named:
            title, file_id = named[-1]
        elif note is not None:
            title, file_id = str(note["metadata"]["exercise"]), str(note["metadata"].get("file_id") or "")
        else:
            return {}
        found = [c["score"] for c in candidates if c["metadata"].get("exercise") == title]
        score = max(found or [c["score"] for c in candidates] or [0.0])
        hits = self.store.exercise(file_id, title, solution=True) if file_id else []
        solution = [Candidate(id=h.id, text=h.text, metadata=h.metadata, score=score) for h in hits]
        if not solution:
            return {}
        return {**self._only(candidates, solution), "solution_of": title}

    def _exercise(self, note: Candidate, *, solution: bool) -> list[Candidate]:
        """The chunks of the exercise `note` belongs to (or of its solution), in file order, scored as `note`."""
        meta = note["metadata"]
        title, file_id = str(meta.get("exercise") or ""), str(meta.get("file_id") or "")
        if not title or not file_id:
            return []
        hits = self.store.exercise(file_id, title, solution=solution)
        return [Candidate(id=h.id, text=h.text, metadata=h.metadata, score=note["score"]) for h in hits]

    @staticmethod
    def _only(candidates: list[Candidate], notes: list[Candidate]) -> dict[str, Any]:
        """`notes` added after the retrieved candidates and made the only relevant ones."""
        return {
            "candidates": candidates + notes,
            "relevant": list(range(len(candidates) + 1, len(candidates) + len(notes) + 1)),
        }

    def generate(self, state: MentorState, config: RunnableConfig) -> dict[str, Any]:
        """Answer from the relevant notes, checking each sentence as it is written; only supported ones are shown.

        Streams checked text as custom `{"token": …}` events. When none of the reply survives (or, with
        answer_style auto, less than half of it), the notes' own sentences are quoted instead, as `quote` does."""
        cfg = Configuration.from_runnable_config(config)
        used = [state["candidates"][i - 1] for i in state["relevant"][: cfg.draft_notes]]
        write = get_stream_writer()
        # The notes' sentence vectors are computed while the server reads the prompt (the first token waits for
        # that anyway), not before the request is sent: bench/answer.py measured the serial order at 1.16 × a
        # bare completion.
        pending = _INDEX_POOL.submit(self._note_index, used)
        checker: DraftChecker | None = None
        # Same notes as a grader would see → same prompt prefix → llama.cpp skips re-reading it.
        prompt = build_context(state["question"], used) + "\n" + prompts.GENERATE_TASK
        try:
            for chunk in _llm(config, tags=["draft"]).stream(build_messages(prompt, deployment=cfg.deployment)):
                checker = checker or DraftChecker(pending.result(), cfg.thresholds())
                for piece in checker.feed(str(chunk.content)):
                    write({"token": piece})
        finally:
            wait([pending])  # never leave the build running past the node
        index = pending.result()
        checker = checker or DraftChecker(index, cfg.thresholds())
        for piece in checker.close():
            write({"token": piece})
        answer = checker.answer()
        verified = answer.verified()
        if answer.grounded and not (cfg.answer_style == "auto" and verified["supported"] * 2 < verified["sentences"]):
            return _finish(state, used, answer)
        # Too little survived: the notes' own sentences, after whatever did (so the stream and the answer agree).
        wide, quoted = self._quotes(state, used, index)
        if not quoted.text:
            return _finish(state, used, answer)  # nothing to quote: what survived, or an honest refusal
        kept = answer.text if answer.grounded else ""
        write({"token": ("\n\n" if kept else "") + quoted.text})
        style: Style = "generative" if kept else "extractive"
        combined = CheckedAnswer(
            "\n\n".join(t for t in (kept, quoted.text) if t), style, answer.support + quoted.support
        )
        return _finish(state, wide, combined)

    def quote(self, state: MentorState) -> dict[str, Any]:
        """The extractive answer: the notes' most relevant sentences, verbatim and cited, with no LLM call."""
        wide, answer = self._quotes(state, [state["candidates"][i - 1] for i in state["relevant"]])
        if answer.text:
            get_stream_writer()({"token": answer.text})
        return _finish(state, wide, answer)

    def _quotes(
        self, state: MentorState, notes: list[Candidate], index: NoteIndex | None = None
    ) -> tuple[list[Candidate], CheckedAnswer]:
        """The notes' sentences that answer the question, quoted (the `quote` node, and `generate` when too little
        of its draft survives), with the notes as quoted: each read with the chunks around it in its section.

        A chunk is an arbitrary cut, and the sentence that answers may sit just before it ("we cannot change
        individual characters in a string" above a code chunk that shows the TypeError) or the code a sentence
        introduces just after it; each wider note still holds its chunk, so citations stay. `index`: the notes'
        sentences already embedded (generate's draft check), used again when no note grew.

        An exercise given back or its solution asked for (HINTS_FIRST) is quoted whole instead: its notes are all
        of its chunks already, so none is widened."""
        if state.get("held_back") or state.get("solution_of"):
            index = self._note_index(notes) if index is None else index
            if state.get("held_back"):
                return notes, statement(index, prompts.EXERCISE_INTRO)
            return notes, statement(index, prompts.SOLUTION_INTRO, MAX_SOLUTION_UNITS)
        wide = self._widened(notes)
        if index is None or any(w["text"] != n["text"] for w, n in zip(wide, notes, strict=True)):
            index = self._note_index(wide)
        question = _evidence_question(state, index.stats.language)
        focus = state["question"] if question != state["question"] else None  # a follow-up read with its turn
        return wide, extractive(question, index, index.stats, prompts.EXTRACTIVE_INTRO, focus=focus)

    def _note_index(self, notes: list[Candidate]) -> NoteIndex:
        vectors = factories.sentence_vectors(factories.get_embeddings())
        return NoteIndex([c["text"] for c in notes], vectors, self.store.term_stats())

    def _widened(self, notes: list[Candidate]) -> list[Candidate]:
        sides = self.store.neighbours([c["metadata"] for c in notes])
        return [Candidate(**{**c, "text": widen(c["text"], *side)}) for c, side in zip(notes, sides, strict=True)]


def llm_veto(state: MentorState, config: RunnableConfig, relevant: list[int]) -> dict[str, Any]:
    """Ask the model about the evidence-accepted notes below `grade_accept_score`; a "no" drops a note, a
    malformed reply drops none. The generator then sees the kept notes in the same order (a shared prefix)."""
    cfg = Configuration.from_runnable_config(config)
    used = [state["candidates"][n - 1] for n in relevant]
    asked = [i for i, c in enumerate(used, start=1) if c["score"] < cfg.grade_accept_score]
    if not asked:
        return {}
    shown = [
        Candidate(**{**c, "text": preview(c["text"], cfg.grade_note_chars)}) if i in asked else c
        for i, c in enumerate(used, start=1)
    ]
    task = prompts.GRADE_TASK.format(notes=note_list(asked))
    llm = _llm(config, max_tokens=16 * len(asked) + 8, tags=["grader"]).bind(
        response_format={"type": "json_object", "schema": grade_schema(asked)}
    )
    prompt = build_context(state["question"], shown) + "\n" + task
    reply = llm.invoke(build_messages(prompt, deployment=cfg.deployment))
    try:
        kept = parse_grade(str(reply.content), asked)
    except GradeParseError as exc:
        log.warning("grader reply rejected: %s", exc)
        return {"grade_error": str(exc)}
    return {"relevant": [n for i, n in enumerate(relevant, start=1) if i not in asked or i in kept]}


def rewrite_query(state: MentorState, config: RunnableConfig) -> dict[str, Any]:
    """Ask the model for other search words; the evidence check still judges against the student's question.

    A second chance, not a need: in the extractive style (which promises answers without the model) an unreachable
    model server ends the rewrites, and the question is refused as nothing answered it, not failed with a 503."""
    cfg = Configuration.from_runnable_config(config)
    course = cfg.deployment.course
    prompt = prompts.REWRITE_PROMPT.format(course=course, question=state["question"], query=state["query"])
    try:
        reply = _llm(config, max_tokens=48).invoke([HumanMessage(prompt)])
    except (openai.APIConnectionError, openai.APITimeoutError) as exc:
        if cfg.answer_style != "extractive":
            raise
        log.warning("query rewrite skipped, the model server is unavailable: %s", type(exc).__name__)
        return {"rewrites": cfg.max_rewrites}
    lines = str(reply.content).strip().splitlines()
    new_query = lines[0].strip().strip('"') if lines else ""
    return {"query": new_query or state["question"], "rewrites": state.get("rewrites", 0) + 1}


def refuse(state: MentorState) -> dict[str, Any]:
    """The honest end when nothing relevant was found: no invented answer, the closest sources instead."""
    return _not_covered(state)


def _not_covered(state: MentorState) -> dict[str, Any]:
    closest = state.get("candidates", [])
    sources = [to_source(n, c) for n, c in enumerate(closest, start=1)]  # shown as "the closest material"
    answer = prompts.NOT_COVERED
    return {"answer": answer, "sources": sources, "grounded": False, "messages": [AIMessage(answer)]}


def respond(state: MentorState, config: RunnableConfig) -> dict[str, Any]:
    """Small talk and questions about the tutor: a short reply, no retrieval."""
    deployment = Configuration.from_runnable_config(config).deployment
    closing = prompts.CLOSINGS.get(small_talk_kind(state["question"]) or "")
    if closing:
        answer = closing.format(course=deployment.course)
        get_stream_writer()({"token": answer})
        return {"answer": answer, "sources": [], "grounded": False, "messages": [AIMessage(answer)]}
    system = prompts.CHAT_SYSTEM_PROMPT.format(course=deployment.course)
    messages = build_messages(state["question"], system=system, deployment=deployment)
    reply = _llm(config, max_tokens=96, tags=[ANSWER_TAG]).invoke(messages)
    answer = strip_echo(str(reply.content)) or "Hello! Ask me anything about your course materials."
    return {"answer": answer, "sources": [], "grounded": False, "messages": [AIMessage(answer)]}


# ---- routers --------------------------------------------------------------------------------------
def route_question(state: MentorState) -> Literal["respond", "condense_question", "retrieve"]:
    """Small talk is answered directly; a follow-up is condensed into a standalone query first."""
    if state["route"] == "chat":
        return "respond"
    earlier_turns = any(isinstance(m, AIMessage) for m in state.get("messages", []))
    if not earlier_turns:
        return "retrieve"
    question = state["question"]
    return "condense_question" if is_follow_up(question, terms(question), code_named(question)) else "retrieve"


def decide_after_grading(
    state: MentorState, config: RunnableConfig
) -> Literal["generate", "quote", "condense_question", "rewrite_query", "refuse"]:
    """Answer (or quote) when a note can; refuse at once when the question names a term no note uses; read a
    question that points back ("into it") with the conversation before anything else; else rewrite, up to
    max_rewrites."""
    cfg = Configuration.from_runnable_config(config)
    if state.get("relevant"):
        # An exercise given back is quoted (a draft from it would solve it), and so is the solution asked for.
        given = state.get("held_back") or state.get("solution_of")
        return "quote" if cfg.answer_style == "extractive" or given else "generate"
    if state.get("unknown_terms"):
        return "refuse"  # other search words cannot make the materials name what they never name
    if _points_back_unread(state):
        return "condense_question"
    if state.get("rewrites", 0) < cfg.max_rewrites:
        return "rewrite_query"
    return "refuse"


def _points_back_unread(state: MentorState) -> bool:
    """Nothing answered a question of a conversation that points back ("How do I put one more value into it?",
    "What kinds of them are there?") with enough words of its own not to be taken for a follow-up, and it has not
    been read with the earlier turn yet: read it so before any rewrite (dev: 4 of 16 follow-ups refused so)."""
    earlier_turns = any(isinstance(m, AIMessage) for m in state.get("messages", []))
    not_read = (state.get("standalone") or state["question"]) == state["question"]
    return earlier_turns and not_read and points_back(state["question"])


# ---- wiring ---------------------------------------------------------------------------------------
GRAPH_NAME = "AI Mentor"
TutorGraph = CompiledStateGraph[MentorState, None, InputState, OutputState]


def create_graph(checkpointer: BaseCheckpointSaver[Any] | None = None, store: Store | None = None) -> TutorGraph:
    """The compiled tutor graph; the server passes its conversation checkpointer, Studio and tests none.

    `store`: the course store its nodes search; none given, the process' shared store (see `CourseNodes.store`)."""
    nodes = CourseNodes(store)
    builder = StateGraph(MentorState, input_schema=InputState, output_schema=OutputState)
    builder.add_node(route)
    builder.add_node(nodes.condense_question)
    builder.add_node(nodes.retrieve)
    builder.add_node(nodes.grade_documents)
    builder.add_node(rewrite_query)
    builder.add_node(nodes.generate)
    builder.add_node(nodes.quote)
    builder.add_node(refuse)
    builder.add_node(respond)
    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", route_question)
    builder.add_edge("condense_question", "retrieve")
    builder.add_edge("retrieve", "grade_documents")
    builder.add_conditional_edges("grade_documents", decide_after_grading)
    builder.add_edge("rewrite_query", "retrieve")
    builder.add_edge("generate", END)
    builder.add_edge("quote", END)
    builder.add_edge("refuse", END)
    builder.add_edge("respond", END)
    return builder.compile(checkpointer=checkpointer, name=GRAPH_NAME)


graph = create_graph()
