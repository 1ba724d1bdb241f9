"""Sections → chunks sized in characters, split at paragraph, line, sentence or word boundaries only."""

from __future__ import annotations

import bisect
import hashlib
import re
from pathlib import Path

from langchain_core.documents import Document
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from loaders.parsers import ParsedFile, Section

# No "" separator: a chunk may exceed CHUNK_SIZE for one giant token, but never cuts a word.
TEXT_SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " "]
CODE_SUFFIXES = {".py"}


def make_splitter(chunk_size: int, chunk_overlap: int, suffix: str = "") -> RecursiveCharacterTextSplitter:
    """A character splitter that breaks at paragraph, line, sentence or word boundaries (Python's own for code)."""
    if suffix in CODE_SUFFIXES:
        separators = [s for s in RecursiveCharacterTextSplitter.get_separators_for_language(Language.PYTHON) if s]
    else:
        separators = TEXT_SEPARATORS
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        separators=separators,
        keep_separator="end",
        strip_whitespace=True,
    )


def content_hash(text: str) -> str:
    """A short hash of a chunk's text, stored in its metadata."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _line_ranges(section: Section, pieces: list[str]) -> list[tuple[int, int]]:
    """Each piece's first and last line in the file, (0, 0) where the section's lines are not numbered.

    The splitter returns pieces in order, each a substring of the section (overlapping the one before), so a
    piece is looked for from just after where the previous one began."""
    if not section.lines:
        return [(0, 0)] * len(pieces)
    newlines = [m.start() for m in re.finditer("\n", section.text)]
    last = len(section.lines) - 1
    ranges: list[tuple[int, int]] = []
    start = -1
    for piece in pieces:
        found = section.text.find(piece, start + 1)
        if found < 0:
            found = section.text.find(piece)
        if found < 0:  # not expected; the whole section is still the right place to open
            ranges.append((section.lines[0], section.lines[-1]))
            continue
        start = found
        first = min(bisect.bisect_left(newlines, found), last)
        end = min(bisect.bisect_left(newlines, found + max(len(piece) - 1, 0)), last)
        ranges.append((section.lines[first], section.lines[end]))
    return ranges


def chunk_file(
    parsed: ParsedFile,
    *,
    source: str,
    file_id: str,
    module: str,
    chunk_size: int,
    chunk_overlap: int,
) -> list[Document]:
    """Every chunk carries what a citation needs; absent locations are 0 / "" so all rows share a schema.

    `line_start`/`line_end` (1-based, in the original file) open a .txt/.py/.md citation at its lines.

    `seq` is the chunk's place in its file: an answer can then read the chunks before and after one it
    quotes (a code chunk's "works, but:" is explained by the paragraph before it)."""
    splitter = make_splitter(chunk_size, chunk_overlap, Path(source).suffix.lower())
    documents: list[Document] = []
    seen: set[tuple[str, str, int, int, int, str]] = set()
    for section in parsed.sections:
        headings = " > ".join(h for h in section.headings if h)
        pieces = splitter.split_text(section.text)
        for piece, (line_start, line_end) in zip(pieces, _line_ranges(section, pieces), strict=True):
            key = (piece, headings, section.page, section.slide, section.cell, section.anchor)
            if key in seen:  # a repeated passage at the same place adds nothing and would share an id
                continue
            seen.add(key)
            documents.append(
                Document(
                    page_content=piece,
                    metadata={
                        "source": source,
                        "file_id": file_id,
                        "title": parsed.title,
                        "headings": headings,
                        "module": module,
                        "page": section.page,
                        "slide": section.slide,
                        "cell": section.cell,
                        "anchor": section.anchor,
                        "line_start": line_start,
                        "line_end": line_end,
                        "content_hash": content_hash(piece),
                        "seq": len(documents),
                        "exercise": section.exercise,
                        "solution": section.solution,
                    },
                )
            )
    return documents
