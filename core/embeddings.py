"""Embeddings that can be computed ahead of the writes that need them."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from langchain_core.embeddings import Embeddings

PRIME_SLICE = 256


class PrimedEmbeddings(Embeddings):
    """Wraps a model so a caller can embed many texts in one length-sorted pass, then hand the vectors out.

    The indexing API embeds file by file; embedding every new chunk of many files together sorts them by
    length across files and pads far less (bench/ingest.py measures the difference). Vectors not asked for
    are dropped by `discard`; anything not primed is embedded on demand, so callers need not prime."""

    def __init__(self, inner: Embeddings, embedder: str = "") -> None:
        self.inner = inner
        self.embedder = embedder  # embedder_of: which model and backend make the vectors
        self._ready: dict[str, list[float]] = {}
        # One call at a time: PyTorch already spreads each over every core (intra-op threads = cores), so answers
        # embedding at once would only contend for them; they queue here instead, in the order they came.
        self._model = threading.Lock()

    def prime(self, texts: Sequence[str], on_progress: Callable[[int], None] | None = None) -> int:
        """Embed the texts not yet ready, longest first, in slices; returns how many were embedded."""
        todo = sorted((t for t in dict.fromkeys(texts) if t not in self._ready), key=len, reverse=True)
        for start in range(0, len(todo), PRIME_SLICE):
            chunk = todo[start : start + PRIME_SLICE]
            with self._model:
                vectors = self.inner.embed_documents(chunk)
            self._ready.update(zip(chunk, vectors, strict=True))
            if on_progress:
                on_progress(len(chunk))
        return len(todo)

    def discard(self) -> None:
        """Drop primed vectors nobody asked for, so a window's leftovers are not kept in memory."""
        self._ready.clear()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Primed vectors are handed out once and forgotten; the rest are embedded now."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._ready]
        fresh: dict[str, list[float]] = {}
        if missing:
            with self._model:
                fresh = dict(zip(missing, self.inner.embed_documents(missing), strict=True))
        vectors = [self._ready[t] if t in self._ready else fresh[t] for t in texts]
        for text in texts:
            self._ready.pop(text, None)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """Queries are never primed: straight to the model."""
        with self._model:
            return self.inner.embed_query(text)


def embedder_of(embeddings: Embeddings) -> str:
    """Which model and backend make these embeddings' vectors ("all-MiniLM-L6-v2/onnx-int8"): recorded on every
    chunk, so a store never mixes vectors of two (a test's fake is named by its class)."""
    return str(getattr(embeddings, "embedder", "") or type(embeddings).__name__)


class SentenceCache:
    """Vectors of the notes' sentences, kept between answers (least recently used dropped first).

    Every answer's sentence check embeds the sentences of the notes it stands on, and popular chunks come back
    question after question; each of these vectors costs MiniLM ≈ 2-10 ms on a laptop core while the model server
    wants the same cores. 8,192 vectors of 384 floats ≈ 13 MB."""

    def __init__(self, embed: Callable[[list[str]], list[list[float]]], size: int = 8192) -> None:
        self.embed = embed
        self.size = size
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        """The texts' vectors, embedding only those not seen lately (in one batch)."""
        with self._lock:  # take the known vectors now: another thread may evict them before we return
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        known.update(zip(missing, self.embed(missing), strict=True) if missing else ())
        with self._lock:
            for text in dict.fromkeys(texts):
                self._vectors[text] = known[text]
                self._vectors.move_to_end(text)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)
        out = [known[t] for t in texts]
        return out
