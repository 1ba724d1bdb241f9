"""Turn one file into structured sections (text + the metadata a citation needs), one parser per format."""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

MAX_FILE_BYTES = 50 * 1024 * 1024


class ParseError(Exception):
    """The file cannot be ingested; the message is shown to the user as the reason."""


@dataclass
class Section:
    """A run of text sharing one location (heading path, page, slide, cell, anchor)."""

    text: str
    headings: list[str] = field(default_factory=list)
    page: int = 0
    slide: int = 0
    cell: int = 0
    anchor: str = ""
    # The 1-based line in the file of each line of `text` (lines dropped at ingest leave gaps); empty where
    # lines locate nothing (PDF, HTML, notebook cells: those have pages, anchors and cells).
    lines: list[int] = field(default_factory=list)
    # An exercise and its worked solution (a "Solution" section right after it): the exercise's title on both,
    # `solution` on the second. The tutor gives the exercise back first and the solution when asked (HINTS_FIRST).
    exercise: str = ""
    solution: bool = False


# "Solution", "Solutions", "Answer", "Worked solution", "Solution to exercise 2", "Sample answer"
SOLUTION_HEADING = re.compile(r"^\s*(?:worked|sample|model|possible)?\s*(?:solutions?|answers?)\b", re.IGNORECASE)
# A hint between an exercise and its solution ("## Hint", "Hints", "Tip") is part of the exercise.
HINT_HEADING = re.compile(r"^\s*(?:hints?|tips?)\b", re.IGNORECASE)


def mark_exercises(sections: list[Section]) -> None:
    """Mark each solution section and the exercise before it.

    A Carpentries lesson's challenge ("## From 1 to N" … "## Solution"), a notebook's exercise cell followed by a
    "Solution" heading, a handout's "Exercise 3" then "Answer": the solution is the section whose heading says so,
    the exercise is the run of sections under the heading just before it, with any "Hint" sections between."""

    def heading(k: int) -> str:
        return sections[k].headings[-1] if sections[k].headings else ""

    for i, section in enumerate(sections):
        if not SOLUTION_HEADING.match(heading(i)) or i == 0:
            continue
        j = i - 1
        while j >= 0 and sections[j].solution:  # "Solution" sections in a row belong to one exercise
            j -= 1
        hints = j + 1
        while j >= 0 and HINT_HEADING.match(heading(j)):
            j -= 1
        if j < 0 or not heading(j) or SOLUTION_HEADING.match(heading(j)):
            continue
        exercise = heading(j)
        section.exercise, section.solution = exercise, True
        for hint in sections[j + 1 : hints]:
            hint.exercise = exercise
        while j >= 0 and heading(j) == exercise:
            sections[j].exercise = exercise
            j -= 1


@dataclass
class ParsedFile:
    """A file's title and its sections, in reading order."""

    title: str
    sections: list[Section]


def read_text(path: Path) -> str:
    """Decode text files whatever their encoding; refuse binary content behind a text extension."""
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ParseError("binary content in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        if best is None:
            raise ParseError("not decodable as text") from None
        return str(best)


def split_lines(text: str) -> list[str]:
    """Lines as an editor and a browser count them (CRLF, CR or LF ends one), so a stored line number is the
    line the file view shows under that number."""
    return re.split(r"\r\n|\r|\n", text)


_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_FENCE = ("```", "~~~")
_FRONT_MATTER_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:(\s|$)")
_FRONT_MATTER_TITLE = re.compile(r"^title\s*:\s*(.+?)\s*$")
# A directive fence: MyST `:::{note}`, `:::{admonition} Its title`, Pandoc/Quarto `::: callout`, closing `:::`.
_DIRECTIVE_FENCE = re.compile(r"^\s*:{3,}\s*(.*?)\s*$")
_MYST_DIRECTIVE = re.compile(r"^\{[\w:.-]+\}\s*(.*)$")
_MYST_OPTION = re.compile(r"^\s*:[\w-]+:(\s|$)")


def _front_matter(lines: list[str]) -> tuple[int, str]:
    """How many leading lines are YAML front matter (0 if none), and its `title:` if it has one.

    A `---` pair also makes a rule and a setext heading, so a block counts only when it reads as YAML keys."""
    if not lines or lines[0].strip() != "---":
        return 0, ""
    for end in range(1, len(lines)):
        if lines[end].strip() in ("---", "..."):
            body = [ln for ln in lines[1:end] if ln.strip() and not ln.lstrip().startswith("#")]
            if not body or not _FRONT_MATTER_KEY.match(body[0]):
                return 0, ""
            title = next((m.group(1) for ln in body if (m := _FRONT_MATTER_TITLE.match(ln))), "")
            return end + 1, title.strip("\"'")
    return 0, ""


Scopes = list[tuple[int, bool]]  # (index in the kept lines, True: a directive opens there / False: one closes)


def markdown_content(text: str) -> tuple[list[tuple[int, str]], str, Scopes]:
    """The lines of Markdown that are content, each with its 1-based line number, the front matter's title, and
    where directives open and close.

    Front matter and directive fence lines are markup, not content: searched, quoted or shown as an excerpt
    they are noise. The text between fences stays (a MyST directive's title too); inside code nothing is
    dropped. A dropped fence between two paragraphs leaves one blank line, so they stay apart. A heading inside
    a directive ends with it: the text after a Carpentries `::: solution` block is the lesson again, not more of
    the solution (swc/06-files.md's key points were held back as the solution of the exercise above them)."""
    lines = split_lines(text)
    skip, title = _front_matter(lines)
    kept: list[tuple[int, str]] = []
    scopes: Scopes = []
    in_code = in_options = dropped = False
    for number, line in enumerate(lines[skip:], start=skip + 1):
        if line.lstrip().startswith(_CODE_FENCE):
            in_code = not in_code
        fence = None if in_code else _DIRECTIVE_FENCE.match(line)
        if in_options and _MYST_OPTION.match(line):  # `:class: tip` lines right after `:::{note}`
            continue
        in_options = False
        if fence:
            scopes.append((len(kept), bool(fence.group(1))))
            myst = _MYST_DIRECTIVE.match(fence.group(1))
            in_options = myst is not None
            if myst and myst.group(1):
                kept.append((number, myst.group(1)))
            elif kept and kept[-1][1].strip() and not dropped:
                kept.append((number, ""))
            dropped = True
            continue
        if dropped and not line.strip() and (not kept or not kept[-1][1].strip()):
            continue  # the blank after a dropped fence, when a blank already stands in for it
        dropped = False
        kept.append((number, line))
    return kept, title, scopes


def _markdown_sections(
    lines: list[tuple[int, str]],
    base: Section | None = None,
    stack: list[tuple[int, str]] | None = None,
    numbered: bool = True,
    scopes: Scopes | None = None,
) -> list[Section]:
    """Split Markdown at headings, keeping the heading path; fenced code never counts as a heading.

    `stack` holds the open headings as (level, text) and is updated in place, so a notebook carries it from
    one Markdown cell to the next: a heading replaces every open heading of its level or deeper. `scopes`
    (markdown_content): a directive's close ends its section and the headings opened inside it."""
    base = base or Section("")
    stack = [] if stack is None else stack
    sections: list[Section] = []
    current: list[tuple[int, str]] = []
    in_fence = False

    def flush() -> None:
        body = list(current)
        while body and not body[0][1].strip():
            body.pop(0)
        while body and not body[-1][1].strip():
            body.pop()
        text = "\n".join(line for _, line in body).strip()
        if text:
            numbers = [n for n, _ in body] if numbered else []
            sections.append(
                Section(text, [h for _, h in stack], base.page, base.slide, base.cell, base.anchor, numbers)
            )
        current.clear()

    events: dict[int, list[bool]] = {}
    for at, opens in scopes or []:
        events.setdefault(at, []).append(opens)
    opened: list[list[tuple[int, str]]] = []  # the heading stack where each open directive began
    for k, (number, line) in enumerate(lines):
        for opens in events.get(k, []):
            if opens:
                opened.append(list(stack))
            elif opened:
                # The text after a directive goes on with the section open before it, whatever headings the
                # directive held: a "## Solution" inside `::: solution` replaces the challenge's heading at the same
                # level, and a callout's "## Comparing in Python" the lesson's "## Conditionals" (swc/07-cond.md's key
                # points were the last solution's, held back as part of it; the lesson's text after a callout was
                # the callout's).
                before = opened.pop()
                if stack != before:
                    flush()
                    stack[:] = before
        if line.lstrip().startswith(_CODE_FENCE):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            flush()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2)))
        current.append((number, line))
    flush()
    return sections


def _first_heading(sections: list[Section]) -> str:
    return next((s.headings[0] for s in sections if s.headings), "")


def parse_markdown(path: Path) -> ParsedFile:
    """Sections under their heading path; the front matter's title, else the first heading, is the title."""
    lines, title, scopes = markdown_content(read_text(path))
    sections = _markdown_sections(lines, scopes=scopes)
    return ParsedFile(title or _first_heading(sections) or path.stem, sections)


def _numbered(text: str) -> Section:
    """A whole file as one section, its lines numbered from 1 as split_lines counts them."""
    lines = split_lines(text)
    return Section("\n".join(lines), lines=list(range(1, len(lines) + 1)))


def parse_text(path: Path) -> ParsedFile:
    """One section; the first non-empty line is the title."""
    text = read_text(path)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), path.stem)
    return ParsedFile(first[:120], [_numbered(text)] if text.strip() else [])


def parse_python(path: Path) -> ParsedFile:
    """One section; the module docstring's first line is the title."""
    text = read_text(path)
    title = path.name
    try:
        doc = ast.get_docstring(ast.parse(text))
    except SyntaxError:
        doc = None
    if doc:
        title = doc.strip().splitlines()[0][:120]
    return ParsedFile(title, [_numbered(text)] if text.strip() else [])


def parse_notebook(path: Path) -> ParsedFile:
    """Markdown cells as sections under their headings, code cells as fenced code; each keeps its cell number."""
    import nbformat

    try:
        nb = nbformat.reads(read_text(path), as_version=4)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"not a valid notebook: {exc}") from exc
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []  # open headings across cells, (level, text)
    for number, cell in enumerate(nb.cells, start=1):
        source = cell.get("source", "")
        if not source.strip():
            continue
        if cell.cell_type == "markdown":
            lines, _, scopes = markdown_content(source)
            sections.extend(_markdown_sections(lines, Section("", cell=number), stack, numbered=False, scopes=scopes))
        elif cell.cell_type == "code":
            sections.append(Section(f"```python\n{source}\n```", [h for _, h in stack], cell=number))
    title = nb.metadata.get("title") or _first_heading(sections) or path.stem
    return ParsedFile(str(title), sections)


# A PDF's code is set in a monospace font; its text layer has no other mark of it. Lines set wholly in such a font
# are fenced, as a DOCX's code paragraphs are: read as prose, "This makes search loops tidy: for n in [3, 7, 11]:
# if n % 2 == 0: …" was quoted as one sentence. A bullet extracted on a line of its own joins its item.
_MONO_FONT = re.compile(r"courier|mono|consol|menlo|code", re.IGNORECASE)
_LONE_BULLET = {"-", "•", "–", "*", "▪", "◦"}


def _pdf_page_text(page: Any) -> str:
    """The page's text with its monospace lines fenced and its lone bullets joined to their items."""
    mono: list[str] = []

    def visit(text: str, _cm: Any, _tm: Any, font: Any, _size: Any) -> None:
        if text.strip() and _MONO_FONT.search(str((font or {}).get("/BaseFont", ""))):
            mono.extend(line.strip() for line in text.splitlines() if line.strip())

    text = page.extract_text(visitor_text=visit) or ""
    return _mark_pdf_lines(text, sorted(set(mono), key=len, reverse=True))


def _mark_pdf_lines(text: str, mono: list[str]) -> str:
    out: list[str] = []
    code: list[str] = []
    bullet = False

    def fenced(lines: list[str]) -> str:
        body = textwrap.dedent("\n".join(lines)).strip("\n").splitlines()
        if body and body[0].startswith(" ") and len(body[0]) - len(body[0].lstrip(" ")) < 4:
            body[0] = body[0].lstrip(" ")  # pypdf starts a block's first line with a space or two
        return "```\n" + "\n".join(body) + "\n```"

    def is_code(line: str) -> bool:
        rest = line.strip()
        for piece in mono:
            rest = rest.replace(piece, "")
        return bool(line.strip()) and not rest.strip()

    for line in text.splitlines():
        if mono and is_code(line):
            code.append(line.rstrip())
            continue
        if code:
            out.append(fenced(code))
            code.clear()
        if line.strip() in _LONE_BULLET:
            bullet = True
            continue
        out.append(f"- {line.strip()}" if bullet and line.strip() else line)
        bullet = False
    if code:
        out.append(fenced(code))
    return "\n".join(out)


def parse_pdf(path: Path) -> ParsedFile:
    """One section per page with text (1-based page numbers for citations), its code fenced (`_pdf_page_text`);
    a scanned PDF is refused."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        pages = [(n, _pdf_page_text(page)) for n, page in enumerate(reader.pages, start=1)]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise ParseError(f"unreadable PDF: {exc}") from exc
    sections = [Section(text.strip(), page=n) for n, text in pages if text.strip()]
    if pages and not sections:
        raise ParseError("PDF has no extractable text (scanned images?)")
    return ParsedFile(str(meta_title) or path.stem, sections)


_HTML_SKIP = {"script", "style", "nav", "header", "footer", "noscript", "template"}
_HTML_BLOCK = {
    "p", "div", "section", "article", "li", "dt", "dd", "pre", "table", "tr", "br",
    "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "ul", "ol", "dl", "figure",
}  # fmt: skip
_IGNORED_ID = re.compile(r"^(index-\d+|id\d+)$")


def parse_html(path: Path) -> ParsedFile:
    """Walk the DOM in order; each text run carries the nearest element id above it and its heading path."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(read_text(path), "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    body = soup.find(None, attrs={"role": "main"}) or soup.body or soup
    sections: list[Section] = []
    headings: list[tuple[int, str]] = []
    anchor = ""
    buffer: list[str] = []

    def flush() -> None:
        text = re.sub(r"[ \t]*\n[ \t\n]*", "\n", "".join(buffer)).strip()
        text = re.sub(r"[ \t]{2,}", " ", text)
        if text:
            sections.append(Section(text, [h for _, h in headings], anchor=anchor))
        buffer.clear()

    def api_name(dt: Tag) -> str:
        """`os.getenv` for a Sphinx Python-domain entry's <dt>; "" for any other definition list."""
        name = dt.find(class_="sig-name")
        if name is None or "py" not in (dt.get("class") or []):
            return ""
        prename = dt.find(class_="sig-prename")
        return ((prename.get_text("", strip=True) if prename else "") + name.get_text("", strip=True)).strip()

    def walk(node: Tag, depth: int = 0) -> None:
        nonlocal anchor
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ in ("Comment", "Doctype", "ProcessingInstruction"):
                    continue
                buffer.append(str(child))
                continue
            if not isinstance(child, Tag) or child.name in _HTML_SKIP:
                continue
            if child.name == "a" and "headerlink" in (child.get("class") or []):
                continue
            element_id = child.get("id")
            if isinstance(element_id, str) and element_id and not _IGNORED_ID.match(element_id):
                flush()
                anchor = element_id
            level = int(child.name[1]) if re.fullmatch(r"h[1-6]", child.name) else 0
            if level:
                flush()
                while headings and headings[-1][0] >= level:
                    headings.pop()
                headings.append((level, child.get_text(" ", strip=True).replace("¶", "").strip()))
            # A Sphinx API entry (<dl class="py function"><dt>signature</dt><dd>…) is its own section, and
            # its name joins the heading path, so every chunk of a long entry says what it documents.
            entry = api_name(child) if child.name == "dt" else ""
            if entry and not (headings and headings[-1] == (7 + depth, entry)):  # overloads stay together
                flush()
                while headings and headings[-1][0] >= 7 + depth:
                    headings.pop()
                headings.append((7 + depth, entry))
            if child.name in _HTML_BLOCK:
                buffer.append("\n")
            kept = len(headings)
            walk(child, depth + (child.name == "dl"))
            if child.name in _HTML_BLOCK:
                buffer.append("\n")
            if child.name == "dl" and len(headings) > kept:  # the entry ends with its <dl>
                flush()
                del headings[kept:]

    walk(body)
    flush()
    return ParsedFile(title or (headings[0][1] if headings else path.stem), sections)


# A DOCX has no Markdown: its code is a paragraph in a monospace font or a code style. Fenced, it is a code block
# for the answer's quotes; run into the text, "text = input(…) try: tickets = int(text) except ValueError: …" was
# quoted as a sentence. Paragraphs end with a blank line, so that a heading or a code line never runs into the
# next sentence ("Handling exceptions with try and except Put the code that might fail…").
_MONOSPACE = ("courier", "consolas", "menlo", "monaco", "mono", "code", "lucida console")
_CODE_STYLES = ("code", "html preformatted", "preformatted", "macro text", "source")


def _docx_code(paragraph: Any) -> bool:
    """Every run of the paragraph in a monospace font (its own or its style's), or a code paragraph style."""
    style = paragraph.style
    if style is not None and any(name in (style.name or "").lower() for name in _CODE_STYLES):
        return True
    default = (style.font.name or "") if style is not None else ""
    runs = [r for r in paragraph.runs if r.text.strip()]
    return bool(runs) and all(any(m in (r.font.name or default).lower() for m in _MONOSPACE) for r in runs)


def parse_docx(path: Path) -> ParsedFile:
    """Paragraphs under the document's heading styles (its heading path), then its tables; code paragraphs
    fenced (`_docx_code`)."""
    import docx

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises zipfile/KeyError/ValueError variants on corrupt files
        raise ParseError(f"unreadable DOCX: {exc}") from exc
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    title = document.core_properties.title or ""

    def flush() -> None:
        body = "\n\n".join(lines).strip()
        if body:
            sections.append(Section(body, [h for _, h in stack]))
        lines.clear()

    for paragraph in document.paragraphs:
        style = paragraph.style.name if paragraph.style is not None else ""
        text = paragraph.text.strip()
        if not text:
            continue
        if _docx_code(paragraph):
            lines.append(f"```\n{paragraph.text.strip(chr(10)).rstrip()}\n```")
            continue
        level = 0
        if style == "Title":
            level, title = 1, title or text
        elif style.startswith("Heading"):
            digits = style.split()[-1]
            level = int(digits) + 1 if digits.isdigit() else 2
        if level:
            flush()
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, text))
        lines.append(f"- {text}" if style.startswith("List") else text)
    flush()
    for table in document.tables:
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        if any(r.strip(" |") for r in rows):
            sections.append(Section("\n".join(rows), [h for _, h in stack]))
    return ParsedFile(title or _first_heading(sections) or path.stem, sections)


def parse_pptx(path: Path) -> ParsedFile:
    """One section per slide: its title, its text and the speaker notes."""
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as exc:  # python-pptx raises zipfile/KeyError variants on corrupt files
        raise ParseError(f"unreadable PPTX: {exc}") from exc
    sections: list[Section] = []
    deck_title = deck.core_properties.title or ""
    for number, slide in enumerate(deck.slides, start=1):
        slide_title = ""
        if slide.shapes.title is not None and slide.shapes.title.has_text_frame:
            slide_title = slide.shapes.title.text_frame.text.strip()
        parts = []
        for shape in slide.shapes:
            if shape.has_text_frame and shape != slide.shapes.title:
                text = shape.text_frame.text.strip()
                if text:
                    parts.append(text)
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                parts.append(f"Speaker notes: {notes}")
        body = "\n".join(([slide_title] if slide_title else []) + parts).strip()
        if body:
            sections.append(Section(body, [slide_title] if slide_title else [], slide=number))
        deck_title = deck_title or slide_title
    return ParsedFile(deck_title or path.stem, sections)


PARSERS: dict[str, Callable[[Path], ParsedFile]] = {
    ".md": parse_markdown,
    ".markdown": parse_markdown,
    ".txt": parse_text,
    ".rst": parse_text,
    ".py": parse_python,
    ".ipynb": parse_notebook,
    ".pdf": parse_pdf,
    ".html": parse_html,
    ".htm": parse_html,
    ".docx": parse_docx,
    ".pptx": parse_pptx,
}


def supported(path: Path) -> bool:
    """Whether a parser exists for the file's extension (others are listed as skipped)."""
    return path.suffix.lower() in PARSERS


def parse_file(path: Path) -> ParsedFile:
    """Parse a supported file or raise ParseError with a reason a person can act on."""
    size = path.stat().st_size
    if size == 0:
        raise ParseError("empty file")
    if size > MAX_FILE_BYTES:
        raise ParseError(f"file too large ({size / 1e6:.0f} MB > {MAX_FILE_BYTES / 1e6:.0f} MB)")
    try:
        parsed = PARSERS[path.suffix.lower()](path)
    except ParseError:
        raise
    except PermissionError as exc:
        raise ParseError(f"permission denied: {exc.strerror}") from exc
    except Exception as exc:  # a third-party parser failing on one file must not stop the run
        raise ParseError(f"{type(exc).__name__}: {exc}") from exc
    if not parsed.sections:
        raise ParseError("no text found")
    mark_exercises(parsed.sections)
    return parsed
