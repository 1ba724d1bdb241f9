"""Reading an item's citation back from its file, to check that the key is there (the bench checks every item).

Independent of how the builder found the item: a text file's cited lines as they are on disk, a notebook's
cell (its recorded outputs for a print item) through nbformat, a page, slide or anchor's sections through the
loaders' parser, which is what the tutor's own citations point at.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from loaders.parsers import ParsedFile, parse_file, read_text, split_lines
from study.items import Item, normalise_space


@lru_cache(maxsize=64)
def _parsed(path: Path, mtime_ns: int) -> ParsedFile:
    """A file parsed once per version (a glossary PDF cites 400 items: parsed 400 times it took 5 minutes)."""
    return parse_file(path)


def cited_text(item: Item) -> str:
    """The text at the item's citation."""
    citation = item.citation
    path = Path(item.root) / citation.source
    if path.suffix.lower() == ".ipynb":
        import nbformat

        cell = nbformat.reads(read_text(path), as_version=4).cells[citation.cell - 1]
        if item.kind != "what_does_this_print":
            return str(cell.get("source", ""))
        texts = []
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain") or ""
            texts.append(text if isinstance(text, str) else "".join(text))
        return "\n".join(texts)
    if citation.line_start:
        return "\n".join(split_lines(read_text(path))[citation.line_start - 1 : citation.line_end])
    return "\n".join(
        section.text
        for section in _parsed(path, path.stat().st_mtime_ns).sections
        if (section.page, section.slide, section.cell, section.anchor)
        == (citation.page, citation.slide, citation.cell, citation.anchor)
    )


def key_in_source(item: Item) -> bool:
    """Whether the key is verbatim (whitespace aside) in the cited text."""
    return normalise_space(item.key) in normalise_space(cited_text(item))
