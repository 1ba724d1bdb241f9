"""Evidence, checked in code, that notes can answer a question and that an answer says only what they say.

Pure text logic, no I/O: term statistics, how much of a question's rare terms a note contains, sentence
splitting, and per-sentence support. The graph decides with these numbers. The packaged 135M model's
yes/no on "does this note help" agrees with the truth 47-51 % of the time (bench/answer.py), so it never
decides alone: a cosine of 0.27 between "What is the capital of France?" and a `str.capitalize()` cell
says "near", and only the terms say "France is not there".
"""

from __future__ import annotations

import difflib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pysbd
import simplemma
import snowballstemmer
from stop_words import get_stop_words

from core.answer import Support
from core.sources import SPACED_CITATION

Embed = Callable[[list[str]], list[list[float]]]

# Words every question uses whatever its subject; they say nothing about whether notes answer it.
_QUESTION_WORDS = {
    "what", "whats", "which", "who", "whom", "whose", "why", "how", "when", "where", "explain", "describe",
    "tell", "mean", "means", "meaning", "difference", "differences", "different", "example", "examples",
    "use", "used", "using", "uses", "work", "works", "working", "does", "do", "did", "can", "could",
    "would", "should", "will", "shall", "may", "might", "must", "please", "give", "show", "get", "gets",
    "need", "want", "know", "way", "ways", "happen", "happens", "thing", "things", "something", "someone",
    "anything", "kind", "type", "sort", "like", "also", "just", "really", "exactly", "actually", "good",
    "best", "better", "bad", "new", "old", "make", "makes", "made", "let", "lets", "say", "says", "said",
    "called", "call", "name", "named", "one", "two", "first", "second", "i", "im", "ive", "id", "me", "my",
    "we", "us", "our", "you", "your", "yours", "it", "its", "is", "are", "was", "were", "be", "been",
}  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?![\w])")
# Names in code: `spans`, dotted (os.getenv), snake_case (read_csv), CamelCase (KeyError), calls (len()).
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\.[A-Za-z_][\w.]*\b|\b[a-z]+_\w+\b|\b[A-Z][a-z]+[A-Z]\w*\b|\b\w+\(\)")
_FENCE = re.compile(r"^(```|~~~)")


@lru_cache(maxsize=8)
def _stemmer(language: str) -> snowballstemmer.stemmer:
    return snowballstemmer.stemmer(language)


# English function words (NLTK's list). The stop-words package's English list (1,333 words) is far too broad
# for evidence: it drops "value", "number", "state", "case", "point", content words of whole courses.
# fmt: off
_ENGLISH_STOP = {
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves",
    "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their",
    "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
    "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an",
    "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about",
    "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up",
    "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when",
    "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no",
    "nor", "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
    "should", "now", "d", "ll", "m", "o", "re", "ve", "y", "ain", "aren", "couldn", "didn", "doesn", "hadn", "hasn",
    "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won", "wouldn"
}
# Words that turn a statement into its opposite. They weigh nothing as terms, so "Lists are not mutable" holds
# every term of "Lists are mutable": the sentence check compares them separately (`negated`). English only, as
# are the stop words above; other languages get no polarity check.
_NEGATIONS = {"english": frozenset({
    "not", "no", "never", "cannot", "none", "nothing", "neither", "nor", "nobody", "nowhere",
    "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "cant", "couldnt", "wont", "wouldnt",
    "shouldnt", "hasnt", "havent", "hadnt", "mustnt", "neednt", "mightnt", "shant", "aint",
})}
# fmt: on


@lru_cache(maxsize=8)
def _stop(language: str) -> frozenset[str]:
    if language == "english":
        return frozenset(_ENGLISH_STOP | _QUESTION_WORDS | _NEGATIONS["english"])
    return frozenset(w.replace("'", "").lower() for w in get_stop_words(language))


_CAMEL_PART = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def words(text: str) -> list[str]:
    """Lower-cased words, names split at dots and underscores (`os.getenv` → os, getenv); a CamelCase name also
    gives its parts (FileExistsError → fileexistserror, file, exists, error: "error if the file exists")."""
    text = text.replace("_", " ").replace("\u2019", "'")  # don’t → don't, one word
    out = []
    for word in _WORD.findall(text):
        out.append(word.replace("'", "").lower())
        parts = _CAMEL_PART.findall(word) if word[:1].isupper() and not word.isupper() else []
        if len(parts) > 1:
            out.extend(p.lower() for p in parts)
    return out


def negated(text: str, language: str = "english") -> bool | None:
    """Whether the text says "not" in some way; None for a language without a negation list."""
    cues = _NEGATIONS.get(language)
    return None if cues is None else any(w in cues for w in words(text))


def light_stem(word: str) -> str:
    """Plural and possessive endings only (lists → list, classes → class, dictionaries → dictionary).

    A full Snowball stem conflates too much for exact evidence: "capital" and "capitalize" both become
    "capit". Snowball stems still count, at half weight (see `coverage`)."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# Languages simplemma's dictionaries cover, by the names the settings use (COURSE_LANGUAGE).
_LEMMA_LANG = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "dutch": "nl",
    "russian": "ru", "danish": "da", "greek": "el", "polish": "pl", "portuguese": "pt", "swedish": "sv",
    "finnish": "fi", "norwegian": "nb", "czech": "cs", "hungarian": "hu", "turkish": "tr", "catalan": "ca",
}  # fmt: skip


@lru_cache(maxsize=65536)
def lemma(word: str, language: str = "english") -> str:
    """The dictionary form of a word (gave → give, ran → run, mice → mouse); the word itself when unknown.

    Stems miss irregular forms: "Python gave me 1" was refused because no chunk says "gave", though many say
    "give". simplemma's tables ship inside its wheel (nothing downloaded); other languages keep the word."""
    code = _LEMMA_LANG.get(language)
    return str(simplemma.lemmatize(word, lang=code)).lower() if code else word


def terms(text: str, language: str = "english") -> list[str]:
    """Content terms: words that are not stop words, question scaffolding or bare numbers, lightly stemmed."""
    stop = _stop(language)
    kept = [w for w in words(text) if w not in stop and not w.isdigit() and len(w) > 1]
    return [light_stem(w) if language == "english" else w for w in kept]


def stems(items: Iterable[str], language: str = "english") -> list[str]:
    """Snowball stems of terms (iterating, iterator → iter): a looser match that counts at half weight."""
    return [str(s) for s in _stemmer(language).stemWords(list(items))]


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
    lesson covers all. Question words ("what", "explain") weigh nothing whatever the subject. `leave_out`:
    terms not to count at all (a word no chunk uses, judged apart)."""
    skip = set(leave_out)
    wanted = [t for t in dict.fromkeys(terms(question, stats.language)) if t not in skip]
    if not wanted:
        return Coverage(0.0, [], [])
    note_terms = set(terms(note, stats.language))
    return weighted_coverage(wanted, note_terms, set(stems(note_terms, stats.language)), stats)


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


# ---- sentences ------------------------------------------------------------------------------------
# fmt: off
_PYSBD_LANG = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "dutch": "nl",
    "russian": "ru", "danish": "da", "greek": "el", "polish": "pl", "armenian": "hy", "arabic": "ar",
}
# fmt: on
_BLOCK_START = re.compile(r"^\s*([-*+]|\d+[.)]|#{1,6}|>)\s")
_HEADING = re.compile(r"^\s*#{1,6}\s")


@lru_cache(maxsize=8)
def _segmenter(language: str) -> pysbd.Segmenter:
    return pysbd.Segmenter(language=_PYSBD_LANG.get(language, "en"), clean=False)


@dataclass
class Segment:
    """A sentence of prose, or a whole code block (kept as one unit, never split)."""

    text: str
    code: bool = False
    block: bool = False  # starts a paragraph, list item or heading (rendered on a new line)


def segments(text: str, language: str = "english") -> list[Segment]:
    """Split Markdown into sentences (pysbd, per paragraph or list item) and whole fenced code blocks."""
    out: list[Segment] = []
    prose: list[str] = []
    fence: list[str] | None = None

    def flush() -> None:
        paragraph = " ".join(line.strip() for line in prose).strip()
        prose.clear()
        if paragraph:
            parts = [s.strip() for s in _segmenter(language).segment(paragraph) if s.strip()]
            out.extend(Segment(part, block=i == 0) for i, part in enumerate(parts))

    for line in text.splitlines():
        if fence is not None:
            fence.append(line)
            if _FENCE.match(line.strip()):
                out.append(Segment("\n".join(fence), code=True, block=True))
                fence = None
        elif _FENCE.match(line.strip()):
            flush()
            fence = [line]
        elif not line.strip() or _BLOCK_START.match(line):
            flush()
            if line.strip():
                prose.append(line)
            if _HEADING.match(line):  # a heading is one line: the next line starts a paragraph of its own
                flush()
        else:
            prose.append(line)
    flush()
    if fence is not None:  # an unclosed fence (a cut-off reply): keep it as code, closed
        out.append(Segment("\n".join([*fence, "```"]), code=True, block=True))
    return _citations_to_previous(out)


def _citations_to_previous(parts: list[Segment]) -> list[Segment]:
    """Sentence splitting cuts "… a list. [1] Next …" as "… a list." and "[1] Next …": the citation belongs to
    the first."""
    merged: list[Segment] = []
    for part in parts:
        lead = re.match(r"^(\s*\[\d{1,2}\])+", part.text)
        if lead and merged and not part.code:
            merged[-1].text += " " + lead.group(0).strip()
            rest = part.text[lead.end() :].strip()
            if rest:
                merged.append(Segment(rest, block=False))
        else:
            merged.append(part)
    return merged


def join_segments(parts: Sequence[Segment]) -> str:
    """Segments back into Markdown: sentences of a paragraph on one line, blocks on their own."""
    text = ""
    for part in parts:
        if not text:
            text = part.text
        elif part.code or part.block:
            text += "\n\n" + part.text if part.code or not _BLOCK_START.match(part.text) else "\n" + part.text
        else:
            text += " " + part.text
    return text


def sentences(text: str, language: str = "english") -> list[str]:
    """The text of each segment (sentence or block), in order."""
    return [s.text for s in segments(text, language)]


def citations(sentence: str) -> list[int]:
    """The note numbers a sentence cites ([2] → 2)."""
    return [int(n) for n in SPACED_CITATION.findall(sentence)]


def strip_citations(sentence: str) -> str:
    """The sentence without its [n] markers, for comparing it with the notes."""
    return SPACED_CITATION.sub("", sentence).strip()


def finished(segment: Segment) -> bool:
    """A sentence that ends as a sentence does (a cut-off reply's last one doesn't); code blocks are whole."""
    if segment.code:
        return True
    body = strip_citations(segment.text).rstrip("*_`\"')] ")
    return body.endswith((".", "!", "?", ":", ";"))


def close_markup(text: str) -> str:
    """Balance what a cut-off reply leaves open: a code fence, `code` and **bold** markers."""
    fences = sum(1 for line in text.splitlines() if _FENCE.match(line.strip()))
    if fences % 2:
        return text.rstrip() + "\n```"
    outside = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    if outside.count("**") % 2:
        head, _, tail = text.rpartition("**")
        text = head + tail
    if re.sub(r"```.*?```", "", text, flags=re.DOTALL).count("`") % 2:
        head, _, tail = text.rpartition("`")
        text = head + tail
    return text


# ---- is a sentence supported by the notes? --------------------------------------------------------
def exact_tokens(sentence: str) -> set[str]:
    """Numbers, and names in code (identifiers, `spans`), that a supported sentence must take from a note."""
    body = strip_citations(sentence)
    exact = {n.replace(",", "") for n in _NUMBER.findall(_CODE_SPAN.sub(" ", body))}
    exact |= {m.lower().removesuffix("()") for m in _IDENTIFIER.findall(body)}
    exact |= {s.strip().lower().removesuffix("()") for s in _CODE_SPAN.findall(body) if s.strip()}
    return {x for x in exact if x}


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

    def similarities(self, texts: Sequence[str]) -> np.ndarray:
        """Cosine of each text to each note sentence: shape (len(texts), len(units))."""
        if not texts or not self.units:
            return np.zeros((len(texts), len(self.units)), dtype=np.float32)
        return _unit_rows(self.embed(list(texts))) @ self.matrix.T

    def check(self, segment: Segment, thresholds: Thresholds, similarity_row: np.ndarray | None = None) -> Check:
        """One sentence against every note. Numbers and code names must occur verbatim in the note; its content
        terms must mostly occur there; and it must mean something close to one of the note's sentences."""
        plain = strip_citations(segment.text)
        if segment.code:
            return self._check_code(plain, thresholds)
        row = similarity_row if similarity_row is not None else self.similarities([plain])[0]
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


def _unit_rows(vectors: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.size == 0:
        return np.zeros((0, 1), dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return matrix / norms
