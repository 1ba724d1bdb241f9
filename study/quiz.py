"""Choosing a quiz from the bank: a module, a topic (free text, matched on its content words as a question is)
or the whole course; reviews that are due first, then the kinds and modules taken in turn so no one kind or
module fills a quiz."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core.text import stems, terms
from study.bank import Bank
from study.items import KINDS, Item

Scope = Literal["module", "topic", "course"]
DEFAULT_ITEMS = 10
MAX_ITEMS = 50
_MODULE = re.compile(r"^[\w.\- ]{1,100}$")


class QuizError(Exception):
    """A quiz that can't be made, with the HTTP status that says why (404 unknown, 422 bad request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class QuizRequest:
    """What a student asked to be quizzed on."""

    scope: Scope = "course"
    module: str = ""
    topic: str = ""
    n: int = DEFAULT_ITEMS


def _stems(text: str, language: str) -> set[str]:
    return set(stems(terms(text, language), language))


def index_topics(bank: Bank, language: str = "english") -> None:
    """Each item's stems for topic quizzes, once per bank (the server does it at start, in the background)."""
    if bank.topic_stems:
        return
    found = {}
    for item in bank.items:
        named = " ".join([item.key, item.citation.headings, item.citation.title])
        text = " ".join([item.body, item.code, item.quote])
        found[item.id] = (_stems(named, language), _stems(text, language))
    bank.topic_stems = found  # whole, at once: a request in another thread never sees half of it


def _topic_items(bank: Bank, items: Sequence[Item], topic: str, language: str, n: int) -> list[Item]:
    """The items most about the topic: its content words (stems) in an item's term, heading or title count twice
    those in its text; the best 2n (at least 20) are kept, so the quiz's shuffle can't reach weak matches.
    Items' stems are computed once per bank (1,005 items: 1.3 s; a topic quiz then takes 10 ms)."""
    wanted = _stems(topic, language)
    if not wanted:
        raise QuizError(422, "The topic has no content words to match (try 'list comprehensions').")
    index_topics(bank, language)
    scored: list[tuple[int, str, Item]] = []
    for item in items:
        named, text = bank.topic_stems[item.id]
        score = 2 * len(wanted & named) + len(wanted & text)
        if score:
            scored.append((-score, item.id, item))
    scored.sort(key=lambda s: (s[0], s[1]))
    return [item for _, _, item in scored[: max(2 * n, 20)]]


def candidates(bank: Bank, request: QuizRequest, language: str = "english") -> list[Item]:
    """The items a request covers, or QuizError naming what is wrong."""
    if request.scope == "module":
        module = request.module.strip()
        if not module:
            raise QuizError(422, "Name a module to be quizzed on (scope 'module' needs 'module').")
        if not _MODULE.match(module) or module not in bank.modules:
            known = ", ".join(bank.modules) or "none"
            raise QuizError(404, f"No module named '{module[:100]}' in the course (modules: {known}).")
        items = bank.of_module(module)
        if not items:
            raise QuizError(
                404, f"no quiz items in {module}: the materials have no definitions or recorded outputs there"
            )
        return items
    if request.scope == "topic":
        pool = bank.of_module(request.module.strip()) if request.module.strip() else bank.items
        items = _topic_items(bank, pool, request.topic, language, request.n)
        if not items:
            raise QuizError(404, f"no quiz items about '{request.topic[:100]}': no definition or code matches it")
        return items
    if not bank.items:
        raise QuizError(404, "no quiz items in the course: the materials have no definitions or recorded outputs")
    return list(bank.items)


def choose(items: Sequence[Item], n: int, due: Sequence[str] = (), seed: str = "") -> list[Item]:
    """Up to n items: the due reviews among them first, then the kinds in turn, each kind's items in an order
    that depends on the seed (a student's quizzes differ; the same seed gives the same quiz)."""
    by_id = {item.id: item for item in items}
    chosen = [by_id[i] for i in dict.fromkeys(due) if i in by_id][:n]
    taken = {item.id for item in chosen}

    def order(item: Item) -> str:
        return hashlib.sha256(f"{seed}:{item.id}".encode()).hexdigest()

    queues = {kind: _modules_in_turn(sorted((i for i in items if i.kind == kind and i.id not in taken), key=order))
              for kind in KINDS}  # fmt: skip
    while len(chosen) < n and any(queues.values()):
        for kind in KINDS:
            if queues[kind] and len(chosen) < n:
                chosen.append(queues[kind].pop(0))
    return chosen


def _modules_in_turn(items: list[Item]) -> list[Item]:
    """The items with their modules taken in turn (a 400-entry glossary must not fill a course-wide quiz)."""
    by_module: dict[str, list[Item]] = {}
    for item in items:
        by_module.setdefault(item.module, []).append(item)
    out: list[Item] = []
    while by_module:
        for module in list(by_module):
            out.append(by_module[module].pop(0))
            if not by_module[module]:
                del by_module[module]
    return out
