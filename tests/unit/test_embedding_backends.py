"""EMBEDDING_BACKEND's seams: which export may be used, and which embedder a chunk records (core/onnx_embeddings.py,
core/embeddings.py, loaders/ingest.py). The exports themselves, real vectors and a real store switched from one
backend to another are in tests/integration/test_embedding_backends.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.embeddings import PrimedEmbeddings, embedder_of
from core.onnx_embeddings import CHECK_FILE, ExportUnavailable, checked_model, cpu_flags, export_dir, file_digest
from core.settings import Settings
from loaders.ingest import fingerprint


@pytest.fixture
def model_dir(tmp_path, monkeypatch) -> Path:
    """A model folder with weights of its own, and a private export cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def write_export(model_dir: Path, backend: str = "onnx-int8", flags: list[str] | None = None) -> Path:
    """A checked export as deploy/embeddings.py leaves it (the model file is only bytes here)."""
    folder = export_dir(model_dir)
    folder.mkdir(parents=True)
    model = folder / "model-int8.onnx"
    model.write_bytes(b"an exported model")
    check = {"flags": flags or [], "backends": {backend: {"file": model.name, "sha256": file_digest(model)}}}
    (folder / CHECK_FILE).write_text(json.dumps(check))
    return model


def test_a_checked_export_is_used(model_dir):
    model = write_export(model_dir)
    assert checked_model("onnx-int8", model_dir) == model


def test_no_export_says_the_install_builds_it(model_dir):
    with pytest.raises(ExportUnavailable, match="no checked export.*startup.sh install"):
        checked_model("onnx", model_dir)


def test_an_export_that_failed_its_check_is_not_used(model_dir):
    write_export(model_dir)
    check = json.loads((export_dir(model_dir) / CHECK_FILE).read_text())
    check["failed"] = {"onnx": "cosine to PyTorch's vectors 0.8 < 0.9999"}
    (export_dir(model_dir) / CHECK_FILE).write_text(json.dumps(check))
    with pytest.raises(ExportUnavailable, match="no checked onnx export: cosine"):
        checked_model("onnx", model_dir)


def test_a_changed_or_truncated_export_is_not_used(model_dir):
    model = write_export(model_dir)
    model.write_bytes(b"an exported mod")
    with pytest.raises(ExportUnavailable, match="not the file that was checked"):
        checked_model("onnx-int8", model_dir)
    model.unlink()
    with pytest.raises(ExportUnavailable, match="missing"):
        checked_model("onnx-int8", model_dir)


def test_an_export_checked_on_a_cpu_with_other_instructions_is_not_used(model_dir):
    write_export(model_dir, flags=[*sorted(cpu_flags())[:2], "avx9000_imaginary"])
    with pytest.raises(ExportUnavailable, match="avx9000_imaginary"):
        checked_model("onnx-int8", model_dir)


def test_other_weights_have_another_export_folder(model_dir):
    before = export_dir(model_dir)
    (model_dir / "model.safetensors").write_bytes(b"fine-tuned weights")
    assert export_dir(model_dir) != before


def test_the_embedder_is_named_by_the_factory_or_by_the_class():
    class Fake(PrimedEmbeddings):
        pass

    assert embedder_of(PrimedEmbeddings(object(), "all-MiniLM-L6-v2/onnx-int8")) == "all-MiniLM-L6-v2/onnx-int8"  # type: ignore[arg-type]
    assert embedder_of(Fake(object())) == "Fake"  # type: ignore[arg-type]


def test_another_embedder_changes_every_fingerprint(tmp_path):
    """A file embedded by one backend is re-ingested when the course is ingested with another."""
    lesson = tmp_path / "lesson.md"
    lesson.write_text("# Lists\n\nA list is mutable.\n")
    settings = Settings(_env_file=None)
    torch, int8 = (fingerprint(lesson, settings, f"all-MiniLM-L6-v2/{b}") for b in ("torch", "onnx-int8"))
    assert torch != int8 and fingerprint(lesson, settings, "all-MiniLM-L6-v2/torch") == torch
