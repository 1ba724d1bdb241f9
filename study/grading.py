"""Grading an answer against an item's key, in code: no model's opinion decides whether a student was right.

- code (fill the code): the token exactly, case and all (`Range` is not `range`); backticks and spaces around it
  are ignored;
- recorded output (what does this print): whitespace-normalised and exact, or numbers within a tolerance
  (`0.30000000000000004` for `0.3000000000000000444`), quotes around a printed string optional;
- a term: case, spaces, an article and punctuation at the ends don't count; word forms match through the
  dictionary form or stem (core/text.py: "lists" for "list"); a key of several words is matched on its
  content words ("comprehension of a list" for "list comprehension");
- multiple choice: the option's text, or its letter (A-D) or number (1-4).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.text import lemma, stems, terms, words
from study.items import Item, normalise_space

MAX_ANSWER_CHARS = 2000
_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_ENDS = " \t\n.,;:!?\"'`()[]{}"
_ARTICLES = {"a", "an", "the"}
REL_TOLERANCE = 1e-6


class AnswerTooLong(ValueError):
    """An answer over MAX_ANSWER_CHARS: no key is that long, and nothing of it is stored."""


@dataclass
class Grade:
    """Right or wrong, and how the answer was matched (shown as feedback)."""

    correct: bool
    how: str


def _plain(text: str) -> str:
    """Lower case, one space between words, punctuation and an article at the ends dropped."""
    text = normalise_space(text).strip(_ENDS).lower()
    first, _, rest = text.partition(" ")
    return rest.strip(_ENDS) if first in _ARTICLES and rest else text


def _number(text: str) -> float | None:
    text = text.strip().strip("'\"")
    return float(text) if _NUMBER.match(text) else None


def _forms(text: str, language: str) -> list[str]:
    """A phrase's words in dictionary form."""
    return [lemma(w, language) for w in words(text)]


def grade_term(answer: str, key: str, language: str = "english") -> Grade:
    """A term, by its text, its word forms, or (several words) its content words."""
    said, wanted = _plain(answer), _plain(key)
    if not said:
        return Grade(False, "no answer")
    if said == wanted:
        return Grade(True, "exact")
    if _forms(said, language) == _forms(wanted, language):
        return Grade(True, "word form")
    if stems(words(said), language) == stems(words(wanted), language):
        return Grade(True, "word stem")
    key_terms = set(stems(terms(wanted, language), language))
    if len(words(wanted)) > 1 and key_terms and key_terms <= set(stems(terms(said, language), language)):
        extra = set(stems(terms(said, language), language)) - key_terms
        if len(extra) <= 1:  # "comprehension of a list", not a paragraph that happens to hold the words
            return Grade(True, "the key's content words")
    return Grade(False, "different term")


def grade_output(answer: str, key: str) -> Grade:
    """Recorded output: exact once whitespace is normalised; numbers within REL_TOLERANCE."""
    said = normalise_space(answer)
    if not said:
        return Grade(False, "no answer")
    if said == key:
        return Grade(True, "exact")
    if said.strip("'\"") == key.strip("'\""):
        return Grade(True, "exact, quotes aside")
    got, wanted = _number(said), _number(key)
    if got is not None and wanted is not None and math.isclose(got, wanted, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
        return Grade(True, "the same number")
    return Grade(False, "different output")


def grade_code(answer: str, key: str) -> Grade:
    """A code token exactly (code is case-sensitive)."""
    said = answer.strip().strip("`").strip()
    if not said:
        return Grade(False, "no answer")
    return Grade(True, "exact") if said == key or said == f"{key}()" else Grade(False, "different token")


def grade_choice(answer: str, item: Item, language: str = "english") -> Grade:
    """An option by its text, letter or number."""
    said = answer.strip()
    options = item.options
    picked = ""
    if len(said) == 1 and said.upper() in "ABCD"[: len(options)]:
        picked = options["ABCD".index(said.upper())]
    elif said.isdigit() and 1 <= int(said) <= len(options):
        picked = options[int(said) - 1]
    else:
        picked = next((o for o in options if _plain(o) == _plain(said)), "")
    if not picked:
        return grade_term(answer, item.key, language)  # typed the term instead of choosing
    return Grade(picked == item.key, "option")


def grade(item: Item, answer: str, language: str = "english") -> Grade:
    """Grade an answer to an item (AnswerTooLong past MAX_ANSWER_CHARS)."""
    if len(answer) > MAX_ANSWER_CHARS:
        raise AnswerTooLong(f"An answer is at most {MAX_ANSWER_CHARS} characters; this one has {len(answer)}.")
    if item.kind == "fill_the_code":
        return grade_code(answer, item.key)
    if item.kind == "what_does_this_print":
        return grade_output(answer, item.key)
    if item.kind == "choose_the_term":
        return grade_choice(answer, item, language)
    return grade_term(answer, item.key, language)
