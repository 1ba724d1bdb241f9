"""Helpers the nodes share: small-talk detection, excerpt formatting, grade parsing, citations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage, SystemMessage

from core.sources import Source, make_source
from core.text import exact_tokens, operators
from graph.state import Candidate

_GREETING = re.compile(
    r"^(hi|hello|hey|hiya|yo|good (morning|afternoon|evening)|thanks|thank you|thx|cheers|bye|goodbye|"
    r"see you|ok(ay)?|cool|great|nice)\b",
    re.IGNORECASE,
)
_META = re.compile(
    r"^(help( me)?|who are you|what are you|what can you do|how are you|what is your name|what's your name|"
    r"are you (a bot|an ai|human)|how do you work)\W*$",
    re.IGNORECASE,
)
# What may follow a greeting in small talk. Any other word ("hi, what is mitosis?", "hello, list slicing") makes
# it a course question: no subject's vocabulary is listed here, so the check holds for any course.
# fmt: off
_PLEASANTRIES = {
    "a", "again", "ai", "all", "am", "and", "are", "bye", "cheers", "day", "do", "doing", "evening", "everyone",
    "fine", "for", "good", "goodbye", "great", "hello", "help", "helpful", "hey", "hi", "how", "i", "im", "it",
    "lot", "mentor", "morning", "much", "nice", "night", "ok", "okay", "see", "so", "soon", "that", "thank",
    "thanks", "the", "there", "this", "today", "tomorrow", "tutor", "very", "was", "well", "you", "your", "yo"
}
# fmt: on


# Thanks and goodbyes anywhere in a message that asks nothing ("Thanks, that helped!", "Great, got it, thanks!"),
# and acknowledgements made only of these words ("Got it.", "That makes sense now"): no subject words needed, so
# it holds in any course. A question mark, a question word opening a clause or a request ("thanks, now explain
# closures") keeps it a course question.
# fmt: off
_THANKS = {"thank", "thanks", "thx", "ty", "cheers", "appreciated", "appreciate", "grateful"}
_BYE = {"bye", "goodbye", "farewell", "later", "cya"}
_ACKNOWLEDGEMENTS = _PLEASANTRIES | {
    "got", "makes", "make", "sense", "now", "understand", "understood", "perfect", "awesome", "brilliant",
    "excellent", "amazing", "helped", "useful", "really", "explanation", "exactly", "need", "needed", "right",
    "alright", "wonderful", "super", "cool", "will", "try", "me", "yes", "yeah", "yep", "sure", "fantastic",
}  # no word a course could be about ("clear", "time", "class" are commands and terms somewhere)
_ASKS = {
    "what", "how", "why", "when", "where", "which", "who", "whom", "whose", "can", "could", "would", "should",
    "is", "are", "does", "do", "did", "explain", "tell", "show", "give", "define", "describe", "compare", "list",
    "write", "solve", "teach", "quiz", "but", "however",
}
# fmt: on
_CLAUSE = re.compile(r"[.,!;:]+")


def is_small_talk(question: str) -> bool:
    """Greetings, thanks, goodbyes and questions about the tutor itself need no retrieval.

    Anything else is treated as a course question, and grading decides whether the materials cover it.
    """
    return small_talk_kind(question) is not None


def small_talk_kind(question: str) -> Literal["greeting", "meta", "thanks", "bye", "ack"] | None:
    """Which kind of small talk a message is, or None for a course question: thanks, goodbyes and
    acknowledgements get a fixed reply (a 135M model writing "you're welcome" is slower and can wander)."""
    text = question.strip()
    if not text or _META.match(text):
        return "meta"
    words = [w.replace("'", "") for w in re.findall(r"[\w']+", text.lower())]
    greeting = _GREETING.match(text)
    if greeting:
        rest = [w.replace("'", "") for w in re.findall(r"[\w']+", text[greeting.end() :].lower())]
        if len(rest) <= 6 and all(w in _PLEASANTRIES for w in rest):
            return _closing(words) or "greeting"
    if "?" in text or len(words) > 16:
        return None
    openers = {clause.split()[0].replace("'", "") for clause in _CLAUSE.split(text.lower()) if clause.split()}
    if openers & _ASKS or set(words) & (_ASKS - {"is", "are", "do", "does", "did", "but", "however"}):
        return None
    closing = _closing(words)
    if closing:
        return closing
    return "ack" if len(words) <= 8 and all(w in _ACKNOWLEDGEMENTS for w in words) else None


def _closing(words: list[str]) -> Literal["thanks", "bye"] | None:
    if set(words) & _THANKS or "thank" in "".join(words):
        return "thanks"
    if set(words) & _BYE or " ".join(words).startswith("see you"):
        return "bye"
    return None


def format_excerpts(candidates: Sequence[Candidate]) -> str:
    """Plain "Note n:" labels: bracketed labels or file names make a small model copy them verbatim."""
    return "\n\n".join(f"Note {n}:\n{c['text'].strip()}" for n, c in enumerate(candidates, start=1))


def preview(text: str, chars: int) -> str:
    """The opening of a note, cut at a word; 0 = all of it.

    It is a prefix of the full text, so when the grader keeps the note the generator's prompt still shares
    everything up to the cut with the grader's, and llama.cpp reads only the rest."""
    text = text.strip()
    if chars <= 0 or len(text) <= chars:
        return text
    head = text[:chars]
    if not (text[chars].isspace() or head[-1].isspace()):  # the cut fell inside a word: drop it
        words = head.rsplit(maxsplit=1)
        head = words[0] if len(words) > 1 else head
    return head.rstrip()


def grade_schema(notes: Sequence[int]) -> dict[str, Any]:
    """Grammar-constrained reply: one yes/no per note asked about, so the model must judge each one.

    Only the grey-zone notes are asked about: every key costs the grader about eight decoded tokens."""
    keys = [f"note_{n}" for n in notes]
    return {
        "type": "object",
        "properties": {key: {"type": "string", "enum": ["yes", "no"]} for key in keys},
        "required": keys,
    }


def note_list(notes: Sequence[int]) -> str:
    """`note 3`, `notes 2 and 3`, `notes 1, 2 and 3`."""
    labels = [str(n) for n in notes]
    if len(labels) == 1:
        return f"note {labels[0]}"
    return f"notes {', '.join(labels[:-1])} and {labels[-1]}"


class GradeParseError(ValueError):
    """The grader's reply was not the JSON we asked for."""


def parse_grade(content: str, notes: Sequence[int]) -> list[int]:
    """Strict: a malformed reply raises, so it can never count as 'relevant' by default."""
    match = re.search(r"\{.*\}", content or "", re.DOTALL)
    if not match:
        raise GradeParseError(f"no JSON object in grader reply: {content[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise GradeParseError(f"invalid JSON from grader: {exc}") from exc
    if not isinstance(data, dict):
        raise GradeParseError(f"grader reply is not an object: {content[:80]!r}")
    relevant = []
    for n in notes:
        verdict = data.get(f"note_{n}")
        if verdict not in ("yes", "no"):
            raise GradeParseError(f"grader gave no yes/no for note_{n}: {content[:80]!r}")
        if verdict == "yes":
            relevant.append(n)
    return relevant


def to_source(n: int, candidate: Candidate) -> Source:
    """A candidate as the answer's [n] source (core/sources.py's one citation shape)."""
    return make_source(n, candidate["text"], candidate["metadata"], candidate["score"])


def as_messages(system: str, user: str, merge_system: bool) -> list[AnyMessage]:
    """Some chat formats (llama-cpp-python's mistral-instruct) drop system messages: fold it in there."""
    if merge_system:
        return [HumanMessage(f"{system}\n\n{user}")]
    return [SystemMessage(system), HumanMessage(user)]


def format_history(messages: Sequence[BaseMessage]) -> str:
    """The conversation as "Student:/Tutor:" lines, for the condense prompt to quote."""
    lines = []
    for message in messages:
        who = "Student" if isinstance(message, HumanMessage) else "Tutor"
        lines.append(f"{who}: {str(message.content).strip()}")
    return "\n".join(lines)


_ECHO = re.compile(r"^\s*(the student says:.*|student:.*|reply:|answer:|question:.*|note \d+:)\s*$", re.IGNORECASE)


def strip_echo(text: str) -> str:
    """Small models sometimes recite the prompt's scaffolding before answering; drop those lines."""
    lines = text.strip().splitlines()
    while lines and _ECHO.match(lines[0]):
        lines.pop(0)
    return "\n".join(lines).strip().strip('"').strip()


# A question that opens like a continuation, or points back ("it", "those") with few words of its own, needs the
# conversation; one that names its subject stands alone and is searched as asked (condensing standalone questions
# with the 135M model turned eight answerable questions into "The answer to your question is:": 4/8 grounded).
_CONTINUES = re.compile(
    r"^\s*(and|but|so|also|or|then|what about|how about|why( not)?|what if|same for|more on|another)\b", re.IGNORECASE
)
_POINTS_BACK = re.compile(
    r"\b(it|its|that|this|these|those|they|them|their|one|ones|former|latter|above|same|other)\b", re.IGNORECASE
)


_WHY = re.compile(r"^\s*why\b", re.IGNORECASE)
# A comparison with one side named and a pronoun for the other ("Is it any different when the variable holds a
# list?", "Will my list still be in the same order after that?") compares with what was said before, however many
# words of its own it has; with its other side named ("different from", "faster than", "the same as") it stands
# alone. Dev follow-ups written before this rule: both of this shape were read alone and answered off topic.
_PRONOUN = re.compile(r"\b(it|that|this|these|those|they|them)\b", re.IGNORECASE)
_COMPARES = re.compile(r"\b(different|differ|same|faster|slower|better|worse|safer)\b", re.IGNORECASE)
_OTHER_SIDE = re.compile(r"\b(than|from|between|versus|vs|compared|as|to)\b", re.IGNORECASE)


def code_named(question: str) -> int:
    """How many code names and operators the question names (`dict.get()`, `+=`); numbers are not names."""
    return len(operators(question)) + sum(not x.isdigit() for x in exact_tokens(question))


def is_follow_up(question: str, own_terms: Sequence[str], named: int = 0) -> bool:
    """Whether the question needs the conversation to be understood (`own_terms`: its content terms; `named`: the
    code names and operators it names).

    A comparison naming one side, a pronoun for the other, points back (`_COMPARES`). A "why" with three terms of
    its own asks its own question ("Why is it a bad idea to use an empty list as a
    default argument value?"), and so does one that names code without pointing back ("What does x += 1 actually
    do?"): read with the turns before them, in a conversation of the dev split's in-course questions, both were
    refused where asked fresh they were answered."""
    if _CONTINUES.match(question) and not (_WHY.match(question) and len(own_terms) >= 3):
        return True
    if _PRONOUN.search(question) and _COMPARES.search(question) and not _OTHER_SIDE.search(question):
        return True
    if named and not _POINTS_BACK.search(question):
        return False
    if len(own_terms) < 2:
        return True
    return len(own_terms) < 3 and _POINTS_BACK.search(question) is not None


def points_back(question: str) -> bool:
    """The question uses a word that points to something said before ("it", "them", "that one")."""
    return _POINTS_BACK.search(question) is not None


def keeps_the_question(condensed: str, question: Sequence[str], earlier: Sequence[str], have: Sequence[str]) -> bool:
    """A condensed follow-up may be used when it keeps every term the student wrote and names at least one term
    of the earlier question (stems of each given); else it lost the question (seen: `The course materials say:
    "The course materials say:`)."""
    got = set(have)
    return set(question) <= got and (not earlier or bool(got & set(earlier)))
