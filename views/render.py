"""Answers and course files as safe HTML: markdown-it-py parses, Pygments highlights, nh3 (ammonia) sanitises.

Everything here came from a student, a document or the model, so every string leaves through `nh3.clean`,
and the pages that show it forbid scripts anyway (see server/pages.py's Content-Security-Policy).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from mdit_py_plugins.anchors import anchors_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import TextLexer, get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

from core.sources import CITATION, citations
from core.text import strip_citations
from loaders.parsers import ParsedFile

_FORMATTER = HtmlFormatter(nowrap=True)
HIGHLIGHT_CLASS = "hl"

# Tags and attributes a rendered answer or document may keep; ids only where a citation link lands.
_TAGS = set(nh3.ALLOWED_TAGS) | {"section"}
_ANSWER_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "class", "data-n", "target", "title"},
    "span": {"class"},
    "pre": {"class"},
    "code": {"class"},
}
_EXCERPT_ATTRIBUTES: dict[str, set[str]] = {**_ANSWER_ATTRIBUTES, "mark": {"class"}, "p": {"class", "aria-label"}}
_DOCUMENT_ATTRIBUTES: dict[str, set[str]] = {
    **_ANSWER_ATTRIBUTES,
    "*": {"id", "class", "title", "lang", "dir"},
}
_URL_SCHEMES = {"http", "https", "mailto", "data"}


def lexer_for(language: str = "", filename: str = "") -> Lexer:
    """Pygments' lexer for a fence's language or a file name; plain text when unknown (never guessed)."""
    try:
        if language:
            return get_lexer_by_name(language)
        if filename:
            return get_lexer_for_filename(filename)
    except ClassNotFound:
        pass
    return TextLexer()


def code_block(code: str, language: str = "", filename: str = "") -> str:
    """Code highlighted by Pygments, in `<pre class="hl">`."""
    highlighted = highlight(code, lexer_for(language, filename), _FORMATTER)
    return f'<pre class="{HIGHLIGHT_CLASS}"><code>{highlighted}</code></pre>'


def _fence(code: str, language: str, _attrs: str) -> str:
    return code_block(code, language.split()[0] if language else "")


def heading_id(text: str) -> str:
    """The id a heading gets in a rendered document, and so the fragment a citation links to."""
    slug = re.sub(r"[^\w]+", "-", text.lower()).strip("-")
    return "h-" + (slug or "section")


def _citation_rule(state: StateCore) -> None:
    """`[n]` in text (never inside code) becomes a link to source n, when the answer has a source n."""
    links: Mapping[int, str] = state.env.get("links") or {}
    if not links:
        return
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        for child in block.children:
            if child.type != "text" or not CITATION.search(child.content):
                children.append(child)
                continue
            last = 0
            for start, end, n in citations(child.content):
                if n not in links:
                    continue
                children.append(Token("text", "", 0, content=child.content[last:start]))
                chip = Token("html_inline", "", 0)
                chip.content = (
                    f'<a class="cite" href="{html.escape(links[n], quote=True)}" data-n="{n}" target="_blank" '
                    f'title="Open source {n}">[{n}]</a>'
                )
                children.append(chip)
                last = end
            children.append(Token("text", "", 0, content=child.content[last:]))
        block.children = children


@lru_cache(maxsize=1)
def _answer_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _fence}).enable(["table", "strikethrough"])
    md.core.ruler.push("citations", _citation_rule)
    return md


@lru_cache(maxsize=1)
def _document_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "highlight": _fence}).enable(["table", "strikethrough"])
    anchors_plugin(md, min_level=1, max_level=6, slug_func=heading_id)
    return md


def _url_filter(tag: str, attribute: str, value: str) -> str | None:
    """Images only inline (a file's own images were not ingested, so a link to one would be a 404), and
    data: URLs only for images."""
    if tag == "img" and attribute == "src":
        return value if value.startswith("data:image/") else None
    if attribute in ("href", "src") and value.lower().startswith("data:"):
        return None
    return value


def _clean(fragment: str, attributes: Mapping[str, set[str]]) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=attributes,
        attribute_filter=_url_filter,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


_LIST_ITEM = re.compile(r"^( {0,3})(\d{1,9})([.)])(?=\s|$)")
_FENCE_LINE = re.compile(r"^ {0,3}(```|~~~)")


def quoted_numbers_as_text(markdown: str) -> str:
    """A sentence quoted from the notes that begins "5." or "6)" stays text: Markdown would start a numbered
    list there (at 5). A list the answer itself numbers from 1 stays a list; code is left alone."""
    lines = markdown.split("\n")
    fence = ""
    in_list = False
    after_blank = True
    for i, line in enumerate(lines):
        stripped = line.strip()
        fence_match = _FENCE_LINE.match(line)
        if fence:
            if fence_match and stripped.startswith(fence):
                fence = ""
        elif fence_match:
            fence = fence_match.group(1)
        elif match := _LIST_ITEM.match(line):
            if int(match.group(2)) == 1 and after_blank:
                in_list = True
            elif not in_list:
                lines[i] = f"{match.group(1)}{match.group(2)}\\{match.group(3)}{line[match.end() :]}"
        elif stripped and after_blank and not line.startswith((" ", "\t")):
            in_list = False
        after_blank = not stripped or bool(_LIST_ITEM.match(line))
    return "\n".join(lines)


def render_answer(answer: str, links: Mapping[int, str] | None = None) -> str:
    """An answer's Markdown as sanitised HTML, each valid citation `[n]` a link to the original of source n."""
    markdown = quoted_numbers_as_text(answer)
    return _clean(_answer_parser().render(markdown, {"links": dict(links or {})}), _ANSWER_ATTRIBUTES)


# ---- a source's excerpt, as the Markdown it is, with the sentence it was cited for marked --------------
EXCERPT_CHARS = 600
_FRONT_MATTER = re.compile(r"\A\s*---[ \t]*\n.*?\n---[ \t]*\n", re.S)
_DIRECTIVE = re.compile(r"^[ \t]*:{3,}.*\n?", re.M)
_BOUNDARY = re.compile(r"\n|(?<=[.!?])[\"')\]*_`]*[ \t]+")
_BLOCK_MARK = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)]|#{1,6}|>)[ \t]+")
_WORDS = re.compile(r"[^\W_]+")
MARK_OPEN, MARK_CLOSE = "\ue010", "\ue011"


def _not_content(text: str) -> str:
    """Front matter and directive fences (`:::`) are the file's plumbing, not what a student reads."""
    return _DIRECTIVE.sub("", _FRONT_MATTER.sub("", text, count=1))


def _units(text: str) -> list[tuple[int, int]]:
    """The text's sentences and lines, as (start, end) spans, in order."""
    spans, start = [], 0
    for match in _BOUNDARY.finditer(text):
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def _word_set(text: str) -> set[str]:
    return {w.lower() for w in _WORDS.findall(strip_citations(text))}


def _cited_spans(text: str, cited: list[str]) -> list[tuple[int, int]]:
    """Where each cited sentence is in the text: the run of up to four sentences or lines (a PDF wraps a
    sentence over lines) sharing most words with it, counted against the longer of the two (≥ 60%)."""
    units = _units(text)
    words = [_word_set(text[s:e]) for s, e in units]
    found: list[tuple[int, int]] = []
    for sentence in cited:
        wanted = _word_set(sentence)
        if not wanted:
            continue
        best = (0.0, 0, 0, 0)  # score, -length (the shortest of equals), start, end
        for i in range(len(units)):
            span: set[str] = set()
            for j in range(i, min(i + 4, len(units))):
                span |= words[j]
                score = len(wanted & span) / max(len(wanted), len(span))
                best = max(best, (score, units[i][0] - units[j][1], units[i][0], units[j][1]))
        if best[0] >= 0.6 and best[2:] not in found:
            found.append(best[2:])
    return sorted(found)


def _window(text: str, focus: tuple[int, int] | None, limit: int) -> tuple[int, int]:
    """A span of at most about `limit` characters, cut at sentence or line boundaries, holding `focus`."""
    if len(text) <= limit:
        return 0, len(text)
    cuts = sorted({0, len(text)} | {s for s, _ in _units(text)} | {e for _, e in _units(text)})
    s, e = focus or (0, 0)
    before = max(0, (limit - (e - s)) // 3) if focus else 0
    start = min((c for c in cuts if s - before <= c <= s), default=s)
    end = max((c for c in cuts if max(e, start + 1) <= c <= start + limit), default=0)
    if end <= start:  # one sentence longer than the limit: cut it at a word
        end = text.rfind(" ", start, start + limit)
        end = end if end > start else start + limit
    return start, end


def _mark(text: str, spans: list[tuple[int, int]]) -> str:
    """Private-use markers around each span (after any list, heading or quote marker), kept through rendering."""
    for s, e in sorted(spans, reverse=True):
        lead = _BLOCK_MARK.match(text, s)
        s = lead.end() if lead and lead.end() < e else s
        text = text[:s] + MARK_OPEN + text[s:e] + MARK_CLOSE + text[e:]
    return text


MARKDOWN_SOURCES = {"", ".md", ".markdown", ".ipynb"}  # notebooks: Markdown cells, code cells fenced
CODE_SOURCES = {".py"}


def _plain(text: str) -> str:
    """Text that is not Markdown (PDF, Word, slides, HTML, .txt): paragraphs, its line breaks kept."""
    paragraphs = [p.strip("\n") for p in re.split(r"\n[ \t]*\n", text) if p.strip()]
    return "".join(f"<p>{'<br>'.join(html.escape(line) for line in p.splitlines())}</p>\n" for p in paragraphs)


def render_excerpt(text: str, cited: list[str] | None = None, source: str = "", limit: int = EXCERPT_CHARS) -> str:
    """A source's text as sanitised HTML, cut at sentence or line boundaries (an ellipsis says where), the
    sentences an answer cited it for in `<mark class="cited">`: Markdown (and notebooks) rendered as Markdown,
    code highlighted, the text of PDFs, Word files, slides and pages as the text it is."""
    suffix = Path(source).suffix.lower()
    text = _not_content(text).strip() if suffix in MARKDOWN_SOURCES else text.strip()
    spans = _cited_spans(text, list(cited or [])) if suffix not in CODE_SOURCES else []
    start, end = _window(text, spans[0] if spans else None, limit)
    cut = text[start:end]
    lead = len(cut) - len(cut.lstrip("\n"))  # the blank lines stripped at the start shift every span
    inside = [(max(s, start) - start - lead, min(e, end) - start - lead) for s, e in spans if s < end and e > start]
    part = _mark(cut.strip("\n"), [(max(s, 0), e) for s, e in inside if e > max(s, 0)])
    if suffix in CODE_SOURCES:
        body = code_block(part, filename=source)
    elif suffix in MARKDOWN_SOURCES:
        fences = sum(1 for line in part.splitlines() if _FENCE_LINE.match(line))
        if fences % 2:  # cut inside a code block: close it
            part += "\n```"
        body = _answer_parser().render(quoted_numbers_as_text(part), {})
    else:
        body = _plain(part)
    body = body.replace(MARK_OPEN, '<mark class="cited">').replace(MARK_CLOSE, "</mark>")
    more = '<p class="cut" aria-label="excerpt continues">…</p>'
    return _clean((more if start > 0 else "") + body + (more if end < len(text) else ""), _EXCERPT_ATTRIBUTES)


# ---- course files as pages ---------------------------------------------------------------------------
@dataclass
class DocumentView:
    """A course file as a page: its title and sanitised body."""

    title: str
    body: str  # sanitised HTML


def _markdown_document(text: str) -> str:
    return str(_document_parser().render(text))


def _notebook(path: Path) -> str:
    """Cells in order, each `<section id="cell-N">` (N 1-based, as ingest numbers them); outputs as text."""
    import nbformat

    nb = nbformat.reads(path.read_text(encoding="utf-8-sig"), as_version=4)
    language = str((nb.metadata.get("kernelspec") or {}).get("language") or "")
    parts = []
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        if cell.cell_type == "markdown":
            inner = _markdown_document(source)
        elif cell.cell_type == "code":
            inner = code_block(source, language) + "".join(_output(o) for o in cell.get("outputs", []))
        else:
            inner = f"<pre>{html.escape(source)}</pre>"
        parts.append(f'<section class="cell {cell.cell_type}" id="cell-{number}">{inner}</section>')
    return "\n".join(parts)


def _output(output: dict[str, Any]) -> str:
    """A code cell's output as text (rich HTML/JS outputs are not executed or shown)."""
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    elif output.get("output_type") == "error":
        text = f"{output.get('ename', '')}: {output.get('evalue', '')}"
    else:
        text = (output.get("data") or {}).get("text/plain", "")
    text = "".join(text) if isinstance(text, list) else str(text)
    return f'<pre class="output">{html.escape(text)}</pre>' if text.strip() else ""


def _html_body(path: Path) -> str:
    from bs4 import BeautifulSoup

    from loaders.parsers import read_text

    soup = BeautifulSoup(read_text(path), "lxml")
    return (soup.body or soup).decode_contents()


def _sections(parsed: ParsedFile) -> str:
    """DOCX and PPTX as the text ingest extracted: slides as `<section id="slide-N">`, headings with ids."""
    parts: list[str] = []
    heading = None
    for section in parsed.sections:
        lines = [line for line in section.text.splitlines() if line.strip()]
        if section.slide:
            title = section.headings[0] if section.headings else ""
            label = f"Slide {section.slide}" + (f": {title}" if title else "")
            parts.append(f'<section class="slide" id="slide-{section.slide}"><h2>{html.escape(label)}</h2>')
            parts.extend(f"<p>{html.escape(line)}</p>" for line in (lines[1:] if title else lines))
            parts.append("</section>")
            continue
        if section.headings and section.headings[-1] != heading:
            heading = section.headings[-1]
            level = min(len(section.headings) + 1, 6)
            parts.append(f'<h{level} id="{heading_id(heading)}">{html.escape(heading)}</h{level}>')
        parts.extend(f"<p>{html.escape(line)}</p>" for line in lines if line.strip() != heading)
    return "\n".join(parts)


def render_document(path: Path) -> DocumentView:
    """A course file (not a PDF: browsers show those) as a sanitised page the citation links can scroll in.

    Raises loaders.parsers.ParseError when the file can no longer be read."""
    from loaders.parsers import parse_file, read_text

    parsed = parse_file(path)  # the title ingest gave it, and the text of DOCX/PPTX
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        body = _markdown_document(read_text(path))
    elif suffix == ".ipynb":
        body = _notebook(path)
    elif suffix in (".html", ".htm"):
        body = _html_body(path)
    elif suffix in (".docx", ".pptx"):
        body = _sections(parsed)
    else:
        body = code_block(read_text(path), filename=path.name)
    return DocumentView(title=parsed.title or path.name, body=_clean(body, _DOCUMENT_ATTRIBUTES))


def highlight_css() -> str:
    """Pygments' stylesheet for highlighted code (generated, not hand-written)."""
    return str(_FORMATTER.get_style_defs(f".{HIGHLIGHT_CLASS}"))
