"""Evidence, checked in code, that notes can answer a question and that an answer says only what they say.

Pure logic, no I/O, over the text handling of core/text.py: term statistics, how much of a question's rare
terms a note contains, when a note can answer, and per-sentence support. The graph decides with these
numbers. The packaged 135M model's yes/no on "does this note help" agrees with the truth 47-51 % of the
time (bench/answer.py), so it never decides alone: a cosine of 0.27 between "What is the capital of France?"
and a `str.capitalize()` cell says "near", and only the terms say "France is not there".
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from core.answer import Support
from core.text import (
    Segment,
    exact_tokens,
    holds_operator,
    holds_value,
    lemma,
    negated,
    operators,
    quoted_values,
    segments,
    stems,
    strip_citations,
    terms,
    words,
)

Embed = Callable[[list[str]], list[list[float]]]


# ---- collection statistics ------------------------------------------------------------------------
@dataclass
class TermStats:
    """Document frequencies of terms over a collection's chunks: how rare each term is there."""

    df: Counter[str] = field(default_factory=Counter)
    docs: int = 0
    language: str = "english"
    _stems: set[str] | None = field(default=None, repr=False)
    _lemmas: set[str] | None = field(default=None, repr=False)
    _words: list[str] | None = field(default=None, repr=False)

    @classmethod
    def from_texts(cls, texts: Iterable[str], language: str = "english") -> TermStats:
        """Statistics over given texts rather than a collection (the unit tests build theirs so)."""
        stats = cls(language=language)
        for text in texts:
            stats.add(text)
        return stats

    def add(self, text: str) -> None:
        """Count one chunk's terms once each; cached stems and words are rebuilt on next use."""
        self.df.update(set(terms(text, self.language)))
        self.docs += 1
        self._stems = self._lemmas = self._words = None

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency; a term the collection never uses weighs the most."""
        return math.log((self.docs + 1) / (self.df.get(term, 0) + 0.5))

    def unknown(self, wanted: Sequence[str]) -> list[str]:
        """Terms no chunk of the collection uses, in any form: "France", "Kubernetes", "snake" in a Python course.

        A question about something the materials never name cannot be answered from them, however close its
        other words are. A misspelling of a word they do use ("comprehenson") is not unknown, nor another form
        of one ("gave" where the notes say "give")."""
        if not self.docs:
            return []
        if self._stems is None:
            self._stems = set(stems(self.df, self.language))
        if self._lemmas is None:
            self._lemmas = {lemma(w, self.language) for w in self.df}
        out = []
        for term, stem in zip(wanted, stems(wanted, self.language), strict=True):
            if term in self.df or stem in self._stems or lemma(term, self.language) in self._lemmas:
                continue
            if len(term) >= 5 and difflib.get_close_matches(term, self._vocabulary(), n=1, cutoff=0.85):
                continue
            out.append(term)
        return out

    def _vocabulary(self) -> list[str]:
        if self._words is None:
            self._words = [w for w in self.df if len(w) >= 4]
        return self._words


# ---- does a note answer the question? -------------------------------------------------------------
@dataclass
class Coverage:
    """How much of the question's weight (idf) a note's terms hold, and the heaviest term it lacks."""

    score: float
    missing: list[str]
    covered: list[str]


STEM_CREDIT = 0.5  # a term found only as a Snowball stem ("iterate" for "iterating", "capitalize" for "capital")


def coverage(question: str, note: str, stats: TermStats, leave_out: Iterable[str] = ()) -> Coverage:
    """Share of the question's salient terms found in the note, each weighted by its rarity (idf).

    "capital" + "france" against a `capitalize()` cell covers little; "enumerate" + "loop" against the loop
    lesson covers all. Question words ("what", "explain") weigh nothing whatever the subject; an operator the
    question names on its own ("x += 1", "//") is a term, held by a note where it stands alone, and so is a short
    value it quotes ('w', ','), held by a note that quotes it. `leave_out`: terms not to count at all (a word no
    chunk uses, judged apart)."""
    skip = set(leave_out)
    wanted = [t for t in dict.fromkeys(terms(question, stats.language)) if t not in skip]
    named = operators(question)  # "What does x += 1 do?": the operator is what is asked about
    values = quoted_values(question)  # "mode 'w' and mode 'a'": so is the value
    if not wanted and not named and not values:
        return Coverage(0.0, [], [])
    note_terms = set(terms(note, stats.language))
    have = note_terms | {op for op in named if holds_operator(note, op)} | {v for v in values if holds_value(note, v)}
    return weighted_coverage(wanted + named + values, have, set(stems(note_terms, stats.language)), stats)


def weighted_coverage(wanted: Sequence[str], have: set[str], have_stems: set[str], stats: TermStats) -> Coverage:
    """How much of `wanted` a note holds, each term weighted by its idf; a stem-only match earns part credit."""
    weights = {t: stats.idf(t) for t in wanted}
    total = sum(weights.values()) or 1.0
    wanted_stems = dict(zip(wanted, stems(wanted, stats.language), strict=True))
    credit = {t: 1.0 if t in have else STEM_CREDIT if wanted_stems[t] in have_stems else 0.0 for t in wanted}
    covered = [t for t in wanted if credit[t] == 1.0]
    missing = sorted((t for t in wanted if credit[t] < 1.0), key=lambda t: -weights[t])
    return Coverage(sum(weights[t] * credit[t] for t in wanted) / total, missing, covered)


@dataclass(frozen=True)
class Answerability:
    """When a note can answer a question: the operating point (Settings' defaults, bench/honesty.py calibrates)."""

    min_coverage: float  # share of the question's weighted terms the note must hold...
    strong_similarity: float  # ...unless its cosine to the student's own words says "paraphrase"
    weak_similarity: float  # below this cosine...
    weak_min_coverage: float  # ...the note must hold this much (far in meaning and half the words: a trap)
    synonym_similarity: float  # one word no chunk uses: a note this close holding weak_min_coverage of the rest
    relevance_floor: float

    def can_answer(
        self, score: float, cov: float, *, own_words: bool = True, unknown: int = 0, rest: float = 0.0, terms: int = 0
    ) -> bool:
        """`score`: the note's cosine to the query; `cov`: its coverage of the question; with `unknown` terms no
        chunk uses, `rest`: its coverage of the question's `terms` other terms. Weak evidence on one side needs
        strong evidence on the other."""
        if score < self.relevance_floor:
            return False
        if unknown:
            # The other words must say enough on their own: in "the walrus operator" the unknown word is the topic.
            synonym = unknown == 1 and own_words and score >= self.synonym_similarity and terms - unknown >= 2
            return synonym and rest >= self.weak_min_coverage
        needed = self.min_coverage if score >= self.weak_similarity else self.weak_min_coverage
        return cov >= needed or (own_words and score >= self.strong_similarity)


# ---- is a sentence supported by the notes? --------------------------------------------------------
def _normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


@dataclass
class Check:
    """The check of one answer sentence against the notes: the best note, how close, how much of it that note
    holds, and the working fields the answer's text is built from (its public part is `core.answer.Support`)."""

    text: str
    supported: bool
    n: int  # 1-based note that supports it best; 0 = none
    similarity: float
    overlap: float
    missing: list[str] = field(default_factory=list)  # terms and exact tokens the best note lacks
    claim: bool = True  # False for a sentence with nothing to check ("Here is how:")
    quoted: bool = False  # a note's own sentence, quoted verbatim (supported by construction)
    code: bool = False  # a code block: checked, shown, but never on its own an answer

    def support(self) -> Support:
        """What a caller is told of this check (rounded scores; the working fields left out)."""
        return Support(
            text=self.text,
            supported=self.supported,
            n=self.n,
            similarity=round(self.similarity, 3),
            overlap=round(self.overlap, 3),
        )


@dataclass(frozen=True)
class Thresholds:
    """Operating point of the sentence check (bench/honesty.py calibrates it on the dev split)."""

    similarity: float = 0.5  # cosine of the sentence to its closest sentence in the note
    overlap: float = 0.6  # share (idf-weighted) of the sentence's content terms found in that note
    strong_overlap: float = 0.9  # nearly every term in the note: supported even when phrased apart
    code_overlap: float = 0.8  # share of a code block's words found in the note
    # A sentence this close to a negated note sentence, without its negation, says the opposite of it.
    flipped_similarity: float = 0.8


class NoteIndex:
    """The notes an answer may stand on, split into sentences and embedded once for every check."""

    def __init__(self, notes: Sequence[str], embed: Embed, stats: TermStats) -> None:
        self.stats = stats
        self.notes = [n.strip() for n in notes]
        self.note_terms = [set(terms(n, stats.language)) for n in self.notes]
        self.note_stems = [set(stems(t, stats.language)) for t in self.note_terms]
        self.note_words = [set(words(n)) for n in self.notes]
        self.note_text = [_normalised(n) for n in self.notes]
        self.units: list[tuple[int, Segment]] = [
            (i, seg) for i, note in enumerate(self.notes, start=1) for seg in segments(note, stats.language)
        ]
        self.embed = embed
        self.matrix = _unit_rows(embed([seg.text for _, seg in self.units])) if self.units else _unit_rows([])
        self.unit_negated = [negated(seg.text, stats.language) for _, seg in self.units]

    def similarities(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Cosine of each text to each note sentence: shape (len(texts), len(units))."""
        if not texts or not self.units:
            return np.zeros((len(texts), len(self.units)), dtype=np.float32)
        return (_unit_rows(self.embed(list(texts))) @ self.matrix.T).astype(np.float32, copy=False)

    def check(self, segment: Segment, thresholds: Thresholds) -> Check:
        """One sentence against every note. Numbers and code names must occur verbatim in the note; its content
        terms must mostly occur there; and it must mean something close to one of the note's sentences."""
        plain = strip_citations(segment.text)
        if segment.code:
            return self._check_code(plain, thresholds)
        row = self.similarities([plain])[0]
        own = list(dict.fromkeys(terms(plain, self.stats.language)))
        exact = exact_tokens(plain)
        if not own and not exact:
            return Check(plain, True, 0, 0.0, 1.0, claim=False)  # "Here is how:" claims nothing
        says_not = negated(plain, self.stats.language)
        best: Check | None = None
        for n in range(1, len(self.notes) + 1):
            idx = [i for i, (note, _) in enumerate(self.units) if note == n]
            closest = max(idx, key=lambda i: row[i]) if idx else None
            sim = float(row[closest]) if closest is not None else 0.0
            cov = weighted_coverage(own, self.note_terms[n - 1], self.note_stems[n - 1], self.stats) if own else None
            overlap = cov.score if cov else 1.0
            lacking = [x for x in sorted(exact) if _normalised(x) not in self.note_text[n - 1]]
            if says_not is not None and closest is not None and self._flips(says_not, closest, sim, thresholds):
                lacking.append("not")  # the note's closest sentence says the opposite
            ok = not lacking and (
                (sim >= thresholds.similarity and overlap >= thresholds.overlap) or overlap >= thresholds.strong_overlap
            )
            found = Check(plain, ok, n if ok else 0, sim, overlap, (cov.missing if cov else []) + lacking)
            if best is None or (found.supported, sim + overlap) > (best.supported, best.similarity + best.overlap):
                best = found
        assert best is not None or not self.notes
        return best or Check(plain, False, 0, 0.0, 0.0)

    def _flips(self, says_not: bool, unit: int, similarity: float, thresholds: Thresholds) -> bool:
        """A negation the closest note sentence lacks ("Lists are not mutable" beside "Lists are mutable"), or a
        near copy of a negated note sentence without its negation. A loose paraphrase of a negated sentence
        ("Lists can change" beside "unlike tuples, lists are not fixed") is left to the other checks."""
        note_not = bool(self.unit_negated[unit])
        dropped = note_not and not says_not and similarity >= thresholds.flipped_similarity
        return (says_not and not note_not) or dropped

    def _check_code(self, code: str, thresholds: Thresholds) -> Check:
        """A code block is supported when a note holds nearly all of its words (names, keywords, literals)."""
        body = [w for w in words(re.sub(r"^```\w*|```$", "", code.strip(), flags=re.MULTILINE))]
        if not body:
            return Check(code, True, 0, 0.0, 1.0, claim=False)
        best_n, best = 0, 0.0
        for n, have in enumerate(self.note_words, start=1):
            share = sum(w in have for w in body) / len(body)
            if share > best:
                best_n, best = n, share
        ok = best >= thresholds.code_overlap
        return Check(code, ok, best_n if ok else 0, 0.0, best, code=True)


def _unit_rows(vectors: Sequence[Sequence[float]]) -> NDArray[np.float32]:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        return np.zeros((0, 1), dtype=np.float32)
    norms: NDArray[np.float32] = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32, copy=False)
