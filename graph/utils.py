"""Helpers the nodes share: small-talk detection, excerpt formatting, grade parsing, citations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from langchain_core.messages import AnyMessage, HumanMessage

from graph.state import Candidate, Source

_SMALL_TALK = re.compile(
    r"^(hi|hello|hey|hiya|yo|good (morning|afternoon|evening)|thanks|thank you|thx|cheers|bye|goodbye|"
    r"see you|ok(ay)?|cool|great|nice|who are you|what are you|what can you do|how are you|"
    r"what is your name|what's your name|help|are you (a bot|an ai|human))\b",
    re.IGNORECASE,
)
_COURSE_HINT = re.compile(r"\b(python|code|function|list|loop|error|class|what|how|why|explain)\b", re.I)


def is_small_talk(question: str) -> bool:
    """Greetings, thanks and questions about the tutor itself need no retrieval.

    A short message that opens like small talk and carries no course words; anything else is treated as
    a course question, and the grader decides whether the materials cover it.
    """
    text = question.strip().lower()
    if not text:
        return True
    words = re.findall(r"[\w']+", text)
    if not _SMALL_TALK.match(text):
        return False
    meta = re.match(r"^(who are you|what are you|what can you do|what is your name|what's your name)", text)
    return bool(meta) or (len(words) <= 6 and not _COURSE_HINT.search(" ".join(words[2:])))


def location(metadata: dict) -> str:
    parts = [str(metadata.get("source", "?"))]
    for key, label in (("page", "page"), ("slide", "slide"), ("cell", "cell")):
        if metadata.get(key):
            parts.append(f"{label} {metadata[key]}")
    if metadata.get("anchor"):
        parts.append(f"#{metadata['anchor']}")
    return ", ".join(parts)


def format_excerpts(candidates: Sequence[Candidate]) -> str:
    blocks = []
    for n, candidate in enumerate(candidates, start=1):
        heading = candidate["metadata"].get("headings") or candidate["metadata"].get("title", "")
        label = f"[{n}] ({location(candidate['metadata'])}{' - ' + heading if heading else ''})"
        blocks.append(f"{label}\n{candidate['text'].strip()}")
    return "\n\n".join(blocks)


def grade_schema(count: int) -> dict:
    """Grammar-constrained reply: llama.cpp can only emit excerpt numbers that exist."""
    return {
        "type": "object",
        "properties": {
            "relevant": {"type": "array", "items": {"type": "integer", "enum": list(range(1, count + 1))}}
        },
        "required": ["relevant"],
    }


class GradeParseError(ValueError):
    """The grader's reply was not the JSON we asked for."""


def parse_grade(content: str, count: int) -> list[int]:
    """Strict: a malformed reply raises, so it can never count as 'relevant' by default."""
    match = re.search(r"\{.*\}", content or "", re.DOTALL)
    if not match:
        raise GradeParseError(f"no JSON object in grader reply: {content[:80]!r}")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise GradeParseError(f"invalid JSON from grader: {exc}") from exc
    values = data.get("relevant") if isinstance(data, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise GradeParseError(f"grader reply lacks an integer list 'relevant': {content[:80]!r}")
    return sorted({v for v in values if 1 <= v <= count})


_CITATION = re.compile(r"\[(\d{1,2})\]")


def finalize_citations(answer: str, count: int) -> tuple[str, list[int]]:
    """Drop citations to excerpts that don't exist; if the model cited nothing, name every source used."""
    def keep(match: re.Match[str]) -> str:
        return match.group(0) if 1 <= int(match.group(1)) <= count else ""

    cleaned = _CITATION.sub(keep, answer).strip()
    cited = sorted({int(n) for n in _CITATION.findall(cleaned)})
    if not cited and count:
        cited = list(range(1, count + 1))
        cleaned = f"{cleaned}\n\nSources: " + ", ".join(f"[{n}]" for n in cited)
    return cleaned, cited


def to_source(n: int, candidate: Candidate) -> Source:
    meta = candidate["metadata"]
    text = candidate["text"].strip()
    return Source(
        n=n,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        headings=str(meta.get("headings", "")),
        module=str(meta.get("module", "")),
        page=int(meta.get("page") or 0),
        slide=int(meta.get("slide") or 0),
        cell=int(meta.get("cell") or 0),
        anchor=str(meta.get("anchor", "")),
        score=round(float(candidate["score"]), 4),
        snippet=text[:240],
        text=text,
    )


def format_history(messages: Sequence[AnyMessage]) -> str:
    lines = []
    for message in messages:
        who = "Student" if isinstance(message, HumanMessage) else "Tutor"
        lines.append(f"{who}: {str(message.content).strip()}")
    return "\n".join(lines)


def says_not_covered(answer: str) -> bool:
    return bool(re.search(r"(don't|do not|doesn't|does not) (cover|contain|answer|mention)", answer, re.I))
