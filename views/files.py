"""Which course file a citation opens, and the link that opens it at the cited page, slide, cell or heading.

A file is served only when the ingest records hold it (by its path relative to the folder it was ingested
from) and it still lies, symlinks resolved, under that folder: a request names a record, never a path.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.secret import derived_key, sign
from core.settings import Settings, inside
from core.sql import engine_for
from loaders.ingest import module_of, namespace_for
from loaders.manifest import Manifest
from views.render import heading_id

FILES_PREFIX = "/files/"
BROWSER_NATIVE = {".pdf"}  # served as they are: the browser's own viewer opens them at #page=N
HEADING_IDS = {".md", ".markdown", ".docx"}  # rendered by views/render.py with heading_id() ids


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
        """The link that opens a source at its location: `#page=N` for PDFs, cell/slide/anchor/heading ids."""
        path = str(source.get("source") or "")
        url = FILES_PREFIX + quote(path)
        if self.settings.mentor_api_key:
            expires = int(time.time()) + self.settings.file_link_ttl_seconds
            url += f"?exp={expires}&sig={self.signature(path, expires)}"
        return url + _fragment(source)


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
