"""Sections → chunks sized in characters, split at paragraph, line, sentence or word boundaries only."""

from __future__ import annotations

import hashlib
from pathlib import Path

from langchain_core.documents import Document
from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from loaders.parsers import ParsedFile

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

    `seq` is the chunk's place in its file: an answer can then read the chunks before and after one it
    quotes (a code chunk's "works, but:" is explained by the paragraph before it)."""
    splitter = make_splitter(chunk_size, chunk_overlap, Path(source).suffix.lower())
    documents: list[Document] = []
    seen: set[tuple[str, str, int, int, int, str]] = set()
    for section in parsed.sections:
        headings = " > ".join(h for h in section.headings if h)
        for piece in splitter.split_text(section.text):
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
                        "content_hash": content_hash(piece),
                        "seq": len(documents),
                    },
                )
            )
    return documents
