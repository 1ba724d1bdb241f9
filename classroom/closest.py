"""The notes nearest to a question the materials do not answer: what a refusal names, on the page and in the log."""

from __future__ import annotations

from core import factories
from core.sources import Source, make_source

CLOSEST_K = 3


def closest_sources(question: str, module: str = "") -> list[Source]:
    """The notes nearest to a question, however weak: what a refusal shows when nothing passed the floor."""
    hits = factories.shared_store().search(question, CLOSEST_K, module=module or None, floor=-1.0)
    return [make_source(n, h.text, h.metadata, h.cosine) for n, h in enumerate(hits, start=1)]


def modules_elsewhere(question: str, module: str) -> list[str]:
    """The other modules whose notes pass the relevance floor for a question, best first: where a refusal under
    a module filter points the student ("found in week02: search all modules?")."""
    found: list[str] = []
    for hit in factories.shared_store().search(question, CLOSEST_K * 3):
        name = str(hit.metadata.get("module") or "")
        if name and name != module and name not in found:
            found.append(name)
    return found
