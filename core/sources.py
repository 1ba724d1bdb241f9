"""One citation shape from chunk to HTTP: the metadata every chunk carries, and the Source an answer's [n] names.

The loaders write SOURCE_KEYS into each chunk's metadata, the store reads them back, the graph turns a chunk
into a Source, and the server sends Sources as they are (the original app's /api/chat nests them in
`metadata`). Text such as "[1] week03/x.md, cell 4" is rendered only at the edge that needs text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from typing_extensions import TypedDict  # pydantic reads it on Python < 3.12 (server output schema)

# Where a chunk comes from: file (relative to the ingested folder), title, heading path, first folder level,
# and where it applies the PDF page, PPTX slide, notebook cell (all 1-based), nearest HTML anchor, and the lines
# of a .txt/.py/.md file (1-based, inclusive; 0 for other formats and for chunks ingested before pipeline 5).
SOURCE_KEYS = ("source", "title", "headings", "module", "page", "slide", "cell", "anchor", "line_start", "line_end")
SNIPPET_CHARS = 240
# [n] in an answer names sources[n-1]; after a name or a bracket it indexes (`primes[0]`, `s[1]`, `m[0][1]`): the
# honesty bench's dev answers quoted "`primes` is `2`" for the note's "`primes[0]` is `2`", the index taken for a
# citation and stripped. Code spans and blocks are never read for citations at all (`x = [1]`): see `outside_code`.
CITATION = re.compile(r"(?<![\w\])}'\"`])(?:\[\d{1,2}\])+")  # a run of them: "immutable [1][2]"
SPACED_CITATION = re.compile(r"\s*" + CITATION.pattern)  # with the space before it, to strip it from a sentence
_CODE = re.compile(r"(```.*?(?:```|$)|`[^`\n]*`)", re.DOTALL)  # a fenced block (perhaps unclosed) or an inline span


def outside_code(text: str, change: Callable[[str], str]) -> str:
    """`text` with `change` applied to its prose only: code blocks and `inline code` kept as they are."""
    parts = _CODE.split(text)
    return "".join(part if i % 2 else change(part) for i, part in enumerate(parts))


class Source(TypedDict):
    """A citation: [n] in the answer is sources[n-1]."""

    n: int
    source: str
    title: str
    headings: str
    module: str
    page: int
    slide: int
    cell: int
    anchor: str
    line_start: int
    line_end: int
    score: float
    snippet: str
    text: str


def make_source(n: int, text: str, metadata: Mapping[str, Any], score: float) -> Source:
    """The Source of a chunk: every key present, numbers as numbers, the text whole and as a snippet."""
    text = text.strip()
    return Source(
        n=n,
        source=str(metadata.get("source") or ""),
        title=str(metadata.get("title") or ""),
        headings=str(metadata.get("headings") or ""),
        module=str(metadata.get("module") or ""),
        page=int(metadata.get("page") or 0),
        slide=int(metadata.get("slide") or 0),
        cell=int(metadata.get("cell") or 0),
        anchor=str(metadata.get("anchor") or ""),
        line_start=int(metadata.get("line_start") or 0),
        line_end=int(metadata.get("line_end") or 0),
        score=round(float(score), 4),
        snippet=text[:SNIPPET_CHARS],
        text=text,
    )


def cited(text: str) -> list[int]:
    """The source numbers an answer's text cites, in order of first mention."""
    return list(dict.fromkeys(n for part in _CODE.split(text)[::2] for _, _, n in citations(part)))


def citations(prose: str) -> Iterator[tuple[int, int, int]]:
    """Each [n] in prose (not code) as (start, end, n); a run "[1][2]" is two."""
    for run in CITATION.finditer(prose):
        for one in re.finditer(r"\[(\d{1,2})\]", run.group(0)):
            yield run.start() + one.start(), run.start() + one.end(), int(one.group(1))


def location(source: Mapping[str, Any]) -> str:
    """`week02/loops_handout.pdf, page 3`, `week04/functions.html, #defaults`, `week01/notes.txt, lines 4-9`."""
    parts = [source.get("source") or "?"]
    parts += [f"page {source['page']}"] if source.get("page") else []
    parts += [f"slide {source['slide']}"] if source.get("slide") else []
    parts += [f"cell {source['cell']}"] if source.get("cell") else []
    if source.get("anchor"):
        parts.append(f"#{source['anchor']}")
    start, end = int(source.get("line_start") or 0), int(source.get("line_end") or 0)
    if start:
        parts.append(f"lines {start}-{end}" if end > start else f"line {start}")
    return ", ".join(parts)
