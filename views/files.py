"""Which course file a citation opens, and the link that opens it at the cited page, slide, cell, heading or lines.

A file is served only when the ingest records hold it (by its path relative to the folder it was ingested
from) and it still lies, symlinks resolved, under that folder: a request names a record, never a path.
"""

from __future__ import annotations

import hmac
import html
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from pygments import highlight
from pygments.formatters import HtmlFormatter

from core.secret import derived_key, sign
from core.settings import Settings, inside
from core.sql import engine_for
from loaders.ingest import module_of, namespace_for
from loaders.manifest import Manifest
from loaders.parsers import parse_file, read_text, split_lines
from views.render import HIGHLIGHT_CLASS, DocumentView, heading_id, lexer_for

FILES_PREFIX = "/files/"
BROWSER_NATIVE = {".pdf"}  # served as they are: the browser's own viewer opens them at #page=N
HEADING_IDS = {".md", ".markdown", ".docx"}  # rendered by views/render.py with heading_id() ids
# Shown as numbered lines, each `id="L12"`, so a citation opens at its first line: plain text and code always,
# Markdown when a link names its lines (`?lines=12-20`; otherwise it is rendered).
ALWAYS_LINED = {".txt", ".py", ".rst"}
LINED = ALWAYS_LINED | {".md", ".markdown"}
FILE_LINK = re.compile(r'href="/files/([^"?#]+)"')
LINES_PARAM = re.compile(r"^(\d{1,7})(?:-(\d{1,7}))?$")
# Appended to highlight.css (the file view may load no inline style): long lines wrap, so a phone never
# scrolls sideways; line numbers sit in a hanging indent; the cited lines are marked.
LINES_CSS = """
.document pre.lines { white-space: pre-wrap; overflow-wrap: anywhere; overflow-x: visible; counter-reset: line; }
.lines .line { display: block; min-height: 1.2em; padding-left: 3.6em; text-indent: -3.6em; }
.lines .line::before { counter-increment: line; content: counter(line); display: inline-block; width: 2.6em;
  margin-right: 1em; text-align: right; color: #575757; user-select: none; }
.lines .line.cited { background: #fff8e1; }
.lines .line:target { scroll-margin-top: 2rem; }
"""


class SourceFiles:
    """The ingested files a page may open, found through the ingest records of the configured collection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.manifest = Manifest(engine_for(settings.record_manager_db), namespace_for(settings))
        self.link_key = derived_key(settings, "file-links") if settings.mentor_api_key else b""

    def resolve(self, source: str) -> Path | None:
        """The ingested file recorded as `source`, if it still exists inside the folder it was ingested from."""
        for root, entry in self.manifest.locate(source):
            real = os.path.realpath(entry.file_id)
            if inside(real, root) and os.path.isfile(real):
                return Path(real)
        return None

    def modules(self) -> list[str]:
        """The course's modules: first folder levels of the recorded files."""
        return sorted({module_of(source) for source in self.manifest.sources()} - {""})

    # ---- links --------------------------------------------------------------------------------
    def signature(self, source: str, expires: int) -> str:
        """With MENTOR_API_KEY set a browser tab can't send the key header, so a link carries a signature that
        opens this one file until `expires` (epoch seconds): an HMAC of both under the server's secret, not the
        API key, so holding the key mints nothing that outlives FILE_LINK_TTL_SECONDS."""
        return sign(self.link_key, f"files:{expires}:{source}")

    def signed(self, source: str, expires: int, presented: str) -> bool:
        """Whether `presented` is this file's signature for `expires`, and that time has not passed."""
        if not presented or expires < time.time():
            return False
        return hmac.compare_digest(self.signature(source, expires), presented)

    def href(self, source: Mapping[str, Any]) -> str:
        """The link that opens a source at its location: `#page=N` for PDFs, cell/slide/anchor/heading ids,
        `?lines=12-20#L12` for text, code and Markdown (the query marks the lines, the fragment scrolls)."""
        path = str(source.get("source") or "")
        url = FILES_PREFIX + quote(path)
        query = []
        if self.settings.mentor_api_key:
            expires = int(time.time()) + self.settings.file_link_ttl_seconds
            query += [f"exp={expires}", f"sig={self.signature(path, expires)}"]
        lines = _lines(source)
        if lines:
            query.append(f"lines={lines[0]}-{lines[1]}")
        return url + ("?" + "&".join(query) if query else "") + (f"#L{lines[0]}" if lines else _fragment(source))

    def signed_links(self, body: str) -> str:
        """A rendered document's links to other course files (`href="/files/<source>"`, as an instructor
        answer's "See also" line writes them) as `href` makes them: signed when keys are set, so the tab a signed
        link opened, which sends no key, opens them too. Only exact /files/ links; the file route still serves
        nothing the ingest records do not hold."""

        def signed(match: re.Match[str]) -> str:
            source = unquote(html.unescape(match.group(1)))
            return 'href="' + html.escape(self.href({"source": source}), quote=True) + '"'

        return FILE_LINK.sub(signed, body)


def _lines(source: Mapping[str, Any]) -> tuple[int, int] | None:
    """The cited (first, last) line of a text, code or Markdown source; None for other formats or no lines."""
    if Path(str(source.get("source") or "")).suffix.lower() not in LINED:
        return None
    start = int(source.get("line_start") or 0)
    return (start, max(int(source.get("line_end") or 0), start)) if start > 0 else None


def cited_lines(value: str) -> tuple[int, int] | None:
    """`12-20` (or `12`) from a link's `lines=` as (first, last); None when absent or malformed."""
    match = LINES_PARAM.match(value or "")
    if not match or int(match.group(1)) < 1:
        return None
    start = int(match.group(1))
    return start, max(int(match.group(2) or start), start)


def shows_lines(path: Path, cited: tuple[int, int] | None) -> bool:
    """Whether /files/ shows this file as numbered lines (see ALWAYS_LINED)."""
    suffix = path.suffix.lower()
    return suffix in ALWAYS_LINED or (cited is not None and suffix in LINED)


def lined_document(path: Path, cited: tuple[int, int] | None = None) -> DocumentView:
    """A text file highlighted, every line `<span class="line" id="L12">` (numbered as ingest numbers them, by
    split_lines), the cited ones also `cited`. Raises ParseError when the file can no longer be read."""
    title = parse_file(path).title
    lines = split_lines(read_text(path))
    # Pygments' lexers drop leading and trailing blank lines unless told not to, which would shift every number;
    # its formatter closes every token's span at a line end, so its output splits into the file's lines.
    lexer = type(lexer_for(filename=path.name))(stripnl=False)
    inner = highlight("\n".join(lines), lexer, HtmlFormatter(nowrap=True)).split("\n")
    first, last = cited or (0, -1)
    spans = [
        f'<span class="line{" cited" if first <= n <= last else ""}" id="L{n}">{inner[n - 1]}\n</span>'
        for n in range(1, len(lines) + 1)
    ]
    body = f'<pre class="{HIGHLIGHT_CLASS} lines"><code>{"".join(spans)}</code></pre>'
    return DocumentView(title=title or path.name, body=body)


def _fragment(source: Mapping[str, Any]) -> str:
    suffix = Path(str(source.get("source") or "")).suffix.lower()
    if suffix == ".pdf":
        return f"#page={int(source['page'])}" if source.get("page") else ""
    if source.get("cell"):
        return f"#cell-{int(source['cell'])}"
    if source.get("slide"):
        return f"#slide-{int(source['slide'])}"
    if source.get("anchor"):
        return "#" + quote(str(source["anchor"]))
    headings = str(source.get("headings") or "")
    if headings and suffix in HEADING_IDS:
        return "#" + heading_id(headings.split(" > ")[-1])
    return ""
