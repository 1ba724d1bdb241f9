"""Embedding ahead of the writes: primed vectors are handed out once, anything else is embedded on demand."""

from __future__ import annotations

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from core.embeddings import PrimedEmbeddings, SentenceCache
from loaders.ingest import chunk_key


class CountingEmbeddings(Embeddings):
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return [float(len(text)), 0.0]


def test_primed_texts_are_embedded_once_longest_first_and_handed_out():
    inner = CountingEmbeddings()
    emb = PrimedEmbeddings(inner)
    progress: list[int] = []
    assert emb.prime(["b", "ccc", "aa", "b"], progress.append) == 3
    assert inner.calls == [["ccc", "aa", "b"]] and progress == [3]
    assert emb.embed_documents(["aa", "b"]) == [[2.0, 1.0], [1.0, 1.0]]
    assert len(inner.calls) == 1  # served from the primed vectors
    assert emb.embed_documents(["aa", "dddd"]) == [[2.0, 1.0], [4.0, 1.0]]
    assert inner.calls[1:] == [["aa", "dddd"]]  # handed out once; the unprimed one on demand


def test_discard_drops_unused_vectors_and_queries_bypass_the_cache():
    inner = CountingEmbeddings()
    emb = PrimedEmbeddings(inner)
    emb.prime(["x"])
    emb.discard()
    emb.embed_documents(["x"])
    assert inner.calls == [["x"], ["x"]]
    assert emb.embed_query("hello") == [5.0, 0.0]


def test_chunk_key_is_langchains_sha256_record_key():
    from langchain_core.indexing.api import _get_document_with_hash

    doc = Document(page_content="A list holds items.", metadata={"source": "week01/a.md", "page": 0})
    assert chunk_key(doc) == _get_document_with_hash(doc, key_encoder="sha256").id


def test_sentence_cache_embeds_each_sentence_once_and_forgets_the_least_recent() -> None:
    calls: list[list[str]] = []

    def embed(texts: list[str]) -> list[list[float]]:
        calls.append(list(texts))
        return [[float(len(t)), 1.0] for t in texts]

    cache = SentenceCache(embed, size=3)
    assert cache(["a", "bb", "a"]) == [[1.0, 1.0], [2.0, 1.0], [1.0, 1.0]]
    assert calls == [["a", "bb"]]  # duplicates embedded once, in one batch
    assert cache(["bb", "ccc"]) == [[2.0, 1.0], [3.0, 1.0]]
    assert calls[-1] == ["ccc"]  # only the unseen one
    cache(["dddd"])  # over size: "a", least recently used, goes
    cache(["a", "bb"])
    assert calls[-1] == ["a"]
    assert cache([]) == [] and calls[-1] == ["a"]
