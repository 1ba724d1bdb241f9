"""Which course file a citation opens, and the link that opens it at the cited page, slide, cell or heading.

A file is served only when the ingest records hold it (by its path relative to the folder it was ingested
from) and it still lies, symlinks resolved, under that folder: a request names a record, never a path.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path
from urllib.parse import quote

from core.settings import Settings
from core.sql import engine_for
from loaders.ingest import module_of, namespace_for
from loaders.manifest import Manifest
from server.render import heading_id

FILES_PREFIX = "/files/"
BROWSER_NATIVE = {".pdf"}  # served as they are: the browser's own viewer opens them at #page=N
HEADING_IDS = {".md", ".markdown", ".docx"}  # rendered by server/render.py with heading_id() ids


class SourceFiles:
    """The ingested files a page may open, found through the ingest records of the configured collection."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.manifest = Manifest(engine_for(settings.record_manager_db), namespace_for(settings))

    def resolve(self, source: str) -> Path | None:
        """The ingested file recorded as `source`, if it still exists inside the folder it was ingested from."""
        for root, entry in self.manifest.locate(source):
            real_root = os.path.realpath(root)
            real = os.path.realpath(entry.file_id)
            if os.path.commonpath([real_root, real]) == real_root and os.path.isfile(real):
                return Path(real)
        return None

    def modules(self) -> list[str]:
        """The course's modules: first folder levels of the recorded files."""
        return sorted({module_of(source) for source in self.manifest.sources()} - {""})

    # ---- links --------------------------------------------------------------------------------
    def signature(self, source: str) -> str:
        """With MENTOR_API_KEY set a browser tab can't send the key header, so a link carries a signature
        that opens this one file (an HMAC of its path under the key; changing the key revokes them all)."""
        key = self.settings.mentor_api_key.encode()
        return hmac.new(key, f"files:{source}".encode(), hashlib.sha256).hexdigest()[:32]

    def signed(self, source: str, presented: str) -> bool:
        """Whether `presented` is this file's link signature (constant-time)."""
        return hmac.compare_digest(self.signature(source), presented)

    def href(self, source: dict) -> str:
        """The link that opens a source at its location: `#page=N` for PDFs, cell/slide/anchor/heading ids."""
        path = str(source.get("source") or "")
        url = FILES_PREFIX + quote(path)
        if self.settings.mentor_api_key:
            url += f"?sig={self.signature(path)}"
        return url + _fragment(source)


def _fragment(source: dict) -> str:
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
