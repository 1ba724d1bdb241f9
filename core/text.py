"""Text handling for the evidence checks: words, stems, lemmas, content terms, names in code and sentences.

Pure functions, no I/O, for any language the settings name (COURSE_LANGUAGE): lower-cased words with the parts
of code names, stop words, a light and a Snowball stem, dictionary forms (simplemma), negation cues, and
Markdown split into sentences (pysbd) and whole code blocks. core/evidence.py weighs these against the notes;
core/retrieval.py finds the code names a question mentions with the same `IDENTIFIER`.
"""

from __future__ import annotations

import re
import textwrap
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import pysbd
import simplemma
import snowballstemmer
from stop_words import get_stop_words

from core.sources import SPACED_CITATION, outside_code

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
    # light verbs of a student's question ("I wanted it to go up to 10"), which no note must hold: dev in-course
    # answers stating their key facts 67.9 → 68.8 %, everyday questions grounded 21.4 → 28.6 %, traps equal
    "go", "goes", "going", "went", "wanted", "wants", "happened", "try", "tried", "trying",
    "stuff",  # "the stuff that's in the first set": a filler, as "thing" is
}  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?![\w])")
# Names in code: dotted (os.path.join), snake_case (read_csv), CamelCase (KeyError), calls (len()); and `spans`.
# One pattern for both readers: the sentence check (exact_tokens) and BM25's weight (core.retrieval).
IDENTIFIER = re.compile(r"\b[A-Za-z_]\w*\.[A-Za-z_][\w.]*\b|\b[a-z]+_\w+\b|\b[A-Z][a-z]+[A-Z]\w*\b|\b\w+\(\)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_FENCE = re.compile(r"^(```|~~~)")


# Snowball's stemmers and pysbd's segmenters keep the word or text they work on in the object: shared by the
# threads that answer at once, one thread's word ran into another's ("IndexError: string index out of range",
# 20 of 136 answers under 16 mixed clients, bench/load.py --mixed). Each thread gets its own.
_PER_THREAD = threading.local()


def _stemmer(language: str) -> snowballstemmer.stemmer:
    mine: dict[str, snowballstemmer.stemmer] = _PER_THREAD.__dict__.setdefault("stemmers", {})
    if language not in mine:
        mine[language] = snowballstemmer.stemmer(language)
    return mine[language]


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
    "haven", "isn", "ma", "mightn", "mustn", "needn", "shan", "shouldn", "wasn", "weren", "won", "wouldn",
    "onto", "upon", "toward", "towards",  # prepositions NLTK's list lacks ("tack one more thing onto the end")
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
    if language != "english":
        return kept
    stemmed = [light_stem(w) for w in kept]
    # "kinds", "types", "ways": scaffolding as "kind" is; "that's" → "thats" → "that", a stop word as "that" is
    return [w for w in stemmed if w not in stop]


def stems(items: Iterable[str], language: str = "english") -> list[str]:
    """Snowball stems of terms (iterating, iterator → iter): a looser match that counts at half weight."""
    return [str(s) for s in _stemmer(language).stemWords(list(items))]


# ---- sentences ------------------------------------------------------------------------------------
# fmt: off
_PYSBD_LANG = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "dutch": "nl",
    "russian": "ru", "danish": "da", "greek": "el", "polish": "pl", "armenian": "hy", "arabic": "ar",
}
# fmt: on
_BLOCK_START = re.compile(r"^\s*([-*+]|\d+[.)]|#{1,6}|>)\s")
_HEADING = re.compile(r"^\s*#{1,6}\s")
_INDENTED = re.compile(r"^(    |\t)\s*\S")
# A PDF's or text file's numbered section title, "5. The while loop": up to 8 words, no sentence end. When a
# capitalised line follows, it is a title and not a list item wrapped over lines ("5. The while loop A while loop
# checks its condition…" was one quoted sentence).
_NUMBERED_TITLE = re.compile(r"^\s*\d+[.)]\s+[A-Z](?:\S*\s+){0,6}\S*[^\s.!?:;,]\s*$")


def _segmenter(language: str) -> pysbd.Segmenter:
    mine: dict[str, pysbd.Segmenter] = _PER_THREAD.__dict__.setdefault("segmenters", {})
    if language not in mine:
        mine[language] = pysbd.Segmenter(language=_PYSBD_LANG.get(language, "en"), clean=False)
    return mine[language]


@dataclass
class Segment:
    """A sentence of prose, or a whole code block (kept as one unit, never split)."""

    text: str
    code: bool = False
    block: bool = False  # starts a paragraph, list item or heading (rendered on a new line)


_HIDDEN = re.compile("\ue000(\\d+)\ue001")
# A method called on a bracket's or a string's result, outside backticks (a DOCX or PDF has none): pysbd ended a
# sentence at "[1, 2]." of "[1, 2].remove(5) raises ValueError" and at "f.readline()." of ".strip()".
_METHOD_DOT = re.compile(r"(?<=[)\]\"'])\.(?=[A-Za-z_])")
_DOT = "\ue002"


def _sentences(paragraph: str, language: str) -> list[str]:
    """The sentences of a paragraph (pysbd), never cut inside inline code: `!=`, `a.b` and `**kwargs` are hidden from
    it as private-use placeholders and put back (it cut "`!=`" after the "!"), as is the dot of `[1, 2].remove(5)`."""
    spans: list[str] = []

    def hide(match: re.Match[str]) -> str:
        spans.append(match.group(0))
        return f"\ue000{len(spans) - 1}\ue001"

    hidden = _METHOD_DOT.sub(_DOT, _CODE_SPAN.sub(hide, paragraph))
    parts = _segmenter(language).segment(hidden)
    return [_HIDDEN.sub(lambda m: spans[int(m.group(1))], part).replace(_DOT, ".") for part in parts]


# A line that defines a term: a glossary's "tuple:  An immutable sequence…" (up to four words and a colon), or an
# option list's `"x"   exclusive create. Raises FileExistsError…` / `f.readline()    returns the next line` (one
# token); two spaces or more before a definition that starts with a word. Split into sentences, `"x" exclusive
# create.` and "Raises FileExistsError if the file already exists." each lost what the other says.
_DEFINITION = re.compile(
    r"^\s*(?:[A-Za-z][\w'()-]*(?: [\w'()-]+){0,3}:|[^\s|>.#=*+-][^\s,;=]*[^\s,;=:])\s{2,}(?=[A-Za-z\"'`(])(?!Traceback)"
)


def segments(text: str, language: str = "english") -> list[Segment]:
    """Split Markdown into sentences (pysbd, per paragraph or list item) and whole fenced code blocks; a term and
    its definition (a glossary entry, an option list's line, with the lines it wraps onto) stay one unit."""
    out: list[Segment] = []
    prose: list[str] = []
    fence: list[str] | None = None
    defines = False

    def flush() -> None:
        paragraph = " ".join(line.strip() for line in prose).strip()
        prose.clear()
        if paragraph and defines:
            out.append(Segment(paragraph, block=True))
        elif paragraph:
            parts = [s.strip() for s in _sentences(paragraph, language) if s.strip()]
            out.extend(Segment(part, block=i == 0) for i, part in enumerate(parts))

    lines = text.splitlines()
    skip_to = 0
    for at, line in enumerate(lines):
        if at < skip_to:
            continue
        if fence is None and (block := _indented_code(lines, at)):
            flush()
            body = textwrap.dedent("\n".join(lines[at : at + block])).strip("\n")
            out.append(Segment(f"```\n{body}\n```", code=True, block=True))
            skip_to = at + block
            continue
        if fence is not None:
            fence.append(line)
            if _FENCE.match(line.strip()):
                out.append(Segment("\n".join(fence), code=True, block=True))
                fence = None
        elif _FENCE.match(line.strip()):
            flush()
            fence = [line]
        elif not line.strip() or _BLOCK_START.match(line) or _DEFINITION.match(line):
            flush()
            defines = bool(_DEFINITION.match(line)) and not _BLOCK_START.match(line)
            if line.strip():
                prose.append(line)
            if _HEADING.match(line):  # a heading is one line: the next line starts a paragraph of its own
                flush()
        elif defines and prose[-1].rstrip().endswith((".", "!", "?", ":")):
            flush()  # a definition wraps onto lines that continue its sentence; a new sentence is prose again
            defines = False
            prose.append(line)
        else:
            if len(prose) == 1 and _NUMBERED_TITLE.match(prose[0]) and line.lstrip()[:1].isupper():
                flush()
            prose.append(line)
    flush()
    if fence is not None:  # an unclosed fence (a cut-off reply): keep it as code, closed
        out.append(Segment("\n".join([*fence, "```"]), code=True, block=True))
    return _citations_to_previous(out)


def _indented_code(lines: list[str], at: int) -> int:
    """How many lines from `at` are a code block indented under a lead-in (0 if none): a plain-text file's
    "…returns a file object:" + blank line + `    f = open("notes.txt")`. Read as prose, the code was no unit
    of its own, so the quoted lead-in brought nothing and ended the answer on its colon (6 of 376 dev quotes).
    Only after a line ending in ":" and a blank line, and not an option list's lines (`    "w"   write.`): a
    docstring's indented paragraphs stay prose."""
    line = lines[at]
    if not _INDENTED.match(line) or at < 2 or lines[at - 1].strip() or _DEFINITION.match(line):
        return 0
    before = next((x for x in reversed(lines[: at - 1]) if x.strip()), "")
    if not before.rstrip().endswith(":") or _INDENTED.match(before):
        return 0
    end = at
    while end < len(lines) and (_INDENTED.match(lines[end]) or not lines[end].strip()):
        end += 1
    while end > at and not lines[end - 1].strip():
        end -= 1
    return end - at


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


def strip_citations(sentence: str) -> str:
    """The sentence without its [n] markers, for comparing it with the notes (its code untouched: `L [1]`)."""
    return outside_code(sentence, lambda prose: SPACED_CITATION.sub("", prose)).strip()


def finished(segment: Segment) -> bool:
    """A sentence that ends as a sentence does (a cut-off reply's last one doesn't); code blocks are whole."""
    if segment.code:
        return True
    body = strip_citations(segment.text).rstrip("*_`\"')] ")
    return body.endswith((".", "!", "?", ":", ";"))


# An operator the student names on its own ("What does x += 1 do?", "And what about //?"): no word says it, so it
# is a term of the question; a note holds it standing alone, not inside a longer one ("**" is not "*").
_OPERATOR = re.compile(r"(?<![^\s(\[`'\"])([-+*/%@<>=!&|^~]{1,3})(?=[\s?.!,;:)\]`'\"]|$)")
_OPERATOR_CHARS = "-+*/%@<>=!&|^~"


def operators(text: str) -> list[str]:
    """The operators a question names standing alone, in order: `//`, `%`, `+=`, `&`."""
    return list(dict.fromkeys(_OPERATOR.findall(text)))


def holds_operator(text: str, operator: str) -> bool:
    """The operator occurs in the text on its own (`x += 1`, `17 // 5`), not as part of a longer one."""
    chars = re.escape(_OPERATOR_CHARS)
    return re.search(rf"(?<![{chars}]){re.escape(operator)}(?![{chars}])", text) is not None


# A short value the question quotes: a file mode ('w', 'a', 'r+'), a separator (','), an escape ('\\n'). No word
# says it, so like an operator it is a term, held by a note that quotes it too (`"a" append.`). Longer quoted
# text is the student's data ("abc", 'Hello') or a name the terms already hold ('str').
_QUOTED_SHORT = re.compile(r"""(?<![\w'"`])(['"`])([^\s'"`]{1,3})\1(?![\w'"`])""")


def quoted_values(text: str) -> list[str]:
    """The short values a question quotes, each as the term `'v'`: "mode 'w' and mode 'a'" → ["'w'", "'a'"]."""
    found = (v for _, v in _QUOTED_SHORT.findall(text) if len(v) <= 2 or not v.isalpha())
    return list(dict.fromkeys(f"'{v}'" for v in found))


def holds_value(text: str, value: str) -> bool:
    """The note quotes the value (`'w'` as "w", 'w', `w` or ``w``)."""
    inner = re.escape(value[1:-1])
    return re.search(rf"(?<![\w'\"`])['\"`]{{1,2}}{inner}['\"`]{{1,2}}(?![\w'\"`])", text) is not None


# A word the notes never use, standing where a verb stands, is the student's word for what happens ("my program
# blows up", "stop it from crashing", "Python keeps barking", "how do I tack one more thing on"): the subject is in
# the other words. A trap's unknown word is its topic, a noun ("the capital of France", "a set won in tennis").
# English only, as the stop words are. Dev: everyday questions grounded 4 → 7 of 14, traps and off-course equal.
_AFTER_ING_ED = frozenset({
    "from", "keep", "keeps", "kept", "stop", "stops", "is", "are", "was", "were", "been", "being", "be",
    "get", "gets", "got", "getting",
})  # fmt: skip  # "from crashing", "is messed up"
_BEFORE_BASE = frozenset({"i", "you", "we", "to"})  # "do I tack", "the quickest way to toss out"
_SUBJECTS = frozenset({"program", "code", "script", "python", "it", "computer", "loop", "function", "app"})


def behaviour_words(question: str, unknown: Iterable[str], language: str = "english") -> list[str]:
    """Those of the question's `unknown` terms that stand in a verb's place: a behaviour, not a subject."""
    if language != "english":
        return []
    found = _WORD.findall(question.replace("\u2019", "'"))
    said = [w.replace("'", "").lower() for w in found]
    out = []
    for term in unknown:
        for at, word in enumerate(said):
            if light_stem(word) != term and not word.startswith(term) or at and found[at][:1].isupper():
                continue  # not this term, or a name ("from September to December")
            before, form = said[at - 1] if at else "", lemma(word, language)
            verbal = word.endswith(("ing", "ed")) and before in _AFTER_ING_ED
            base = form == word and not word.endswith(("ing", "ed")) and before in _BEFORE_BASE
            third = form != word and word.endswith("s") and before in _SUBJECTS  # "it chokes", not "it venomous"
            if verbal or base or third:
                out.append(term)
                break
    return out


def exact_tokens(sentence: str) -> set[str]:
    """Numbers, and names in code (identifiers, `spans`), that a supported sentence must take from a note."""
    body = strip_citations(sentence)
    exact = {n.replace(",", "") for n in _NUMBER.findall(_CODE_SPAN.sub(" ", body))}
    exact |= {m.lower().removesuffix("()") for m in IDENTIFIER.findall(body)}
    exact |= {s.strip().lower().removesuffix("()") for s in _CODE_SPAN.findall(body) if s.strip()}
    return {x for x in exact if x}
