"""EMBEDDING_BACKEND with the real exports `./startup.sh install` made (deploy/embeddings.py), the packaged MiniLM,
real course text and real Milvus Lite files: the ONNX vectors are PyTorch's (fp32) or close to them (int8), a store
made by one backend refuses questions embedded by another with a message that says what to do, and an ingest with
the new backend re-embeds every chunk."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from core import factories
from core.embeddings import embedder_of
from core.onnx_embeddings import CHECK_FILE, export_dir
from core.settings import Settings
from core.store_errors import EmbedderMismatchError
from loaders.ingest import ingest_directory
from loaders.parsers import parse_file
from tests.conftest import COURSE

pytestmark = pytest.mark.integration


def course_sentences() -> list[str]:
    """Paragraphs of the sample course, as the tutor embeds notes."""
    texts = []
    for path in sorted(p for p in COURSE.rglob("*") if p.suffix in (".md", ".txt", ".html", ".ipynb", ".py")):
        texts += [s.text for s in parse_file(path).sections]
    return [t for t in texts if t.strip()][:120]


@pytest.mark.parametrize(("backend", "floor"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_the_installed_export_embeds_as_pytorch_does(backend, floor):
    texts = course_sentences() + ["What is the difference between a tuple and a list?"]
    exported = factories.get_embeddings(Settings(_env_file=None, embedding_backend=backend))
    assert embedder_of(exported) == f"all-MiniLM-L6-v2/{backend}"  # the install's export, not torch's fall-back
    torch = factories.get_embeddings(Settings(_env_file=None, embedding_backend="torch"))
    a, b = np.asarray(exported.embed_documents(texts)), np.asarray(torch.embed_documents(texts))
    assert a.shape == b.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert (a * b).sum(axis=1).min() >= floor
    query = texts[-1]
    assert float(np.dot(exported.embed_query(query), torch.embed_query(query))) >= floor


def test_a_store_of_another_backend_refuses_questions_until_the_course_is_ingested_again(tmp_path):
    db = str(tmp_path / "db" / "mentor.db")
    torch_settings = Settings(_env_file=None, milvus_uri=db, embedding_backend="torch")
    int8_settings = Settings(_env_file=None, milvus_uri=db, embedding_backend="onnx-int8")
    first = ingest_directory(COURSE, settings=torch_settings)
    assert first.chunks_written > 0

    store = factories.get_store(int8_settings)
    try:
        with pytest.raises(EmbedderMismatchError) as refused:
            store.search("What is a list?", 3)
        message = str(refused.value)
        assert f"{first.chunks_written} of {first.chunks_written} chunks" in message
        assert "all-MiniLM-L6-v2/torch" in message and "all-MiniLM-L6-v2/onnx-int8" in message
        assert "python -m loaders" in message and "EMBEDDING_BACKEND" in message

        again = ingest_directory(COURSE, settings=int8_settings, store=store)
        assert again.count("updated") == first.count("added") and again.chunks_written == first.chunks_written
        assert store.count() == first.chunks_written  # each chunk replaced, none left twice
        hits = store.search("What is a list?", 3)
        assert hits and all(h.metadata for h in hits)
        rows = store.client.query(store.collection, filter='pk != ""', output_fields=["embedder"], limit=10_000)
        assert {r["embedder"] for r in rows} == {"all-MiniLM-L6-v2/onnx-int8"}
    finally:
        store.close()


def test_a_corrupt_export_falls_back_to_torch_and_says_why(tmp_path, monkeypatch, caplog):
    model_dir = factories.embedding_model_path(Settings(_env_file=None))
    installed = export_dir(model_dir)
    assert (installed / CHECK_FILE).is_file(), "./startup.sh install exports the model (deploy/embeddings.py)"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    copy = export_dir(model_dir)
    shutil.copytree(installed, copy)
    with open(copy / json.loads((copy / CHECK_FILE).read_text())["backends"]["onnx-int8"]["file"], "r+b") as f:
        f.truncate(1000)
    factories._embeddings_for.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="ai_mentor"):
            embeddings = factories.get_embeddings(Settings(_env_file=None, embedding_backend="onnx-int8"))
        assert embedder_of(embeddings) == "all-MiniLM-L6-v2/torch"
        assert any("onnx-int8 can't be used" in r.getMessage() and "not the file that was checked" in r.getMessage()
                   for r in caplog.records)  # fmt: skip
    finally:
        factories._embeddings_for.cache_clear()
