"""The packaged sentence model run by ONNX Runtime instead of PyTorch (EMBEDDING_BACKEND=onnx or onnx-int8).

all-MiniLM-L6-v2 as sentence-transformers runs it: WordPiece tokens (at most 256), the BERT encoder, the mean of
the token vectors under the attention mask, scaled to length 1. The encoder is exported from the packaged weights
at install (deploy/embeddings.py) into a folder per model, ONNX Runtime version and CPU feature set, and used only
after its vectors of fixed probe texts matched PyTorch's there (`check.json`). The tokenizer is the packaged
tokenizer.json. Nothing here imports PyTorch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, get_args

import numpy as np
from langchain_core.embeddings import Embeddings

from core.settings import EmbeddingBackend

BACKENDS: tuple[str, ...] = get_args(EmbeddingBackend)
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length: longer texts are cut, as sentence-transformers does
CHECK_FILE = "check.json"
# The instruction-set extensions ONNX Runtime's CPU kernels pick between: an export checked on a CPU with a set is
# used only on a CPU with the same set (a copied cache or a moved disk gets its own export and check).
KERNEL_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni",
                "amx_int8", "amx_bf16")  # fmt: skip


class ExportUnavailable(RuntimeError):
    """The exported model for the configured backend is missing, corrupt, unchecked or for another CPU."""


def cpu_flags() -> set[str]:
    """The CPU's feature flags as the kernel reports them (empty off Linux)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((x for x in info.splitlines() if x.startswith("flags")), "")
    return set(line.split(":", 1)[1].split()) if ":" in line else set()


def kernel_flags() -> list[str]:
    """Of KERNEL_FLAGS, those this CPU has."""
    have = cpu_flags()
    return [flag for flag in KERNEL_FLAGS if flag in have]


def file_digest(path: Path) -> str:
    """sha256 of a file (the packaged weights name the export folder; an export is checked against its own)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(model_dir: Path) -> Path:
    """The sentence-transformers folder's weights (safetensors, else the PyTorch pickle)."""
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (model_dir / name).is_file():
            return model_dir / name
    raise ExportUnavailable(f"{model_dir} has no model.safetensors or pytorch_model.bin")


def export_dir(model_dir: Path) -> Path:
    """~/.cache/ai-mentor/embeddings/<weights>-ort<version>-<CPU feature set> (XDG_CACHE_HOME honoured)."""
    import onnxruntime

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ai-mentor" / "embeddings"
    cpu = hashlib.sha256(" ".join(kernel_flags()).encode()).hexdigest()[:10]
    return base / f"{file_digest(weights_file(model_dir))[:12]}-ort{onnxruntime.__version__}-{cpu}"


def checked_model(backend: str, model_dir: Path) -> Path:
    """The export of `backend` for this model, runtime and CPU, if the install checked it; else why not."""
    folder = export_dir(model_dir)
    try:
        check = json.loads((folder / CHECK_FILE).read_text())
    except (OSError, ValueError):
        raise ExportUnavailable(f"no checked export in {folder} (./startup.sh install builds it)") from None
    entry = check.get("backends", {}).get(backend)
    if not entry:
        raise ExportUnavailable(f"{folder} has no checked {backend} export: {check.get('failed', {}).get(backend)}")
    missing = set(check.get("flags", [])) - cpu_flags()
    if missing:
        raise ExportUnavailable(
            f"the export in {folder} was checked on a CPU with {sorted(missing)}, this one lacks them"
        )
    path = folder / str(entry["file"])
    if not path.is_file() or file_digest(path) != entry.get("sha256"):
        raise ExportUnavailable(
            f"{path} is missing or is not the file that was checked (./startup.sh install redoes it)"
        )
    return path


class OnnxEmbeddings(Embeddings):
    """Normalised mean-pooled vectors from an exported encoder; texts batched by length (less padding)."""

    # Texts per run, longest first. Small batches are faster here, not only leaner: 1,339 course chunks on 2 cores,
    # int8: 4 → 56.7 texts/s (peak RSS 400 MB), 8 → 53.4, 16 → 45.2, 64 → 36.9 (2,183 MB: ONNX Runtime's arena
    # keeps the largest batch's buffers); fp32: 4 → 41.6, 64 → 24.2.
    BATCH = 4

    def __init__(self, model_file: Path, tokenizer_dir: Path, *, batch_size: int = BATCH, threads: int = 0) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads  # 0: one per core, as PyTorch uses
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ONNX Runtime's threads spin between runs by default, burning the cores the LLM server and the other
        # answers need: a PyTorch query took 257 ms beside an idle spinning session, not 10 ms.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime raises its own exception types for a file it can't load
            raise ExportUnavailable(f"ONNX Runtime could not load {model_file}: {exc}") from exc
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.no_padding()
        self.batch_size = batch_size

    def _batch(self, texts: list[str]) -> np.ndarray[Any, Any]:
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """The texts' vectors, in their order; computed longest first so each batch pads little."""
        if not texts:
            return []
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        vectors: list[list[float]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            for row, vector in zip(rows, self._batch([texts[i] for i in rows]), strict=True):
                vectors[row] = vector.tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        """One text's vector."""
        return self.embed_documents([text])[0]
