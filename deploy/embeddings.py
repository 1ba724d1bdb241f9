"""Export the packaged sentence model for ONNX Runtime, once per model, runtime and CPU, and check it.

    python -m deploy.embeddings [--force]

Run by `./startup.sh install`. Writes into core.onnx_embeddings.export_dir() (~/.cache/ai-mentor/embeddings/…):
- `model.onnx`: the encoder in fp32 with ONNX Runtime's BERT fusions (attention, layer norm, GELU as single
  operators). Unfused, the export ran at 0.70 × PyTorch's speed; fused 1.05 ×, the same vectors.
- `model-int8.onnx`: the unfused encoder's weights quantized to int8 per output channel, activations at run time
  (dynamic). Per tensor, the default, moved vectors too far (cosine to PyTorch's min 0.874); per channel min 0.982.
- `check.json`, written last: each export's vectors of the probe texts against PyTorch's, and only the exports
  within tolerance. core/onnx_embeddings.checked_model reads it; a missing or failed export falls back to torch.
Nothing is downloaded: the weights and tokenizer are the packaged ones.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.onnx_embeddings import CHECK_FILE, OnnxEmbeddings, export_dir, file_digest, kernel_flags  # noqa: E402

# Texts of the kinds the tutor embeds: a question, a sentence of notes, code, a long paragraph (cut at 256 tokens),
# another language, symbols. The check's floor is per export: fp32 must be PyTorch's vectors; int8 close enough
# that the calibrated thresholds hold (bench/honesty.py and bench/retrieval_eval.py measure that, README).
PROBES = [
    "What is the difference between a tuple and a list?",
    "A tuple is a sequence of values; unlike a list, it cannot be changed once it is made.",
    "for i in range(10):\n    if i % 2 == 0:\n        continue\n    print(i)",
    " ".join(["The condition is checked before each pass of the loop, and the body runs while it holds."] * 30),
    "¿Cómo se abre un archivo para escribir en él?",
    "x != y and a.b(**kwargs) -> None  # `!=` is 'does not equal'",
    "-r, --recursive  copy directories recursively",
]
FLOORS = {"onnx": 0.9999, "onnx-int8": 0.97}
FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


def log(message: str) -> None:
    """One line of install output, marked as this step's."""
    print(f"[embeddings] {message}", flush=True)


def export_fp32(model_dir: Path, out: Path) -> None:
    """The BERT encoder (token vectors; pooling stays in numpy) through PyTorch's TorchScript exporter."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    bert = AutoModel.from_pretrained(str(model_dir)).eval()

    class Encoder(torch.nn.Module):  # transformers 5's BertModel takes these by keyword only
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    tokens = AutoTokenizer.from_pretrained(str(model_dir))(PROBES[:2], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with torch.no_grad():
        torch.onnx.export(
            Encoder(bert),
            tuple(tokens[n] for n in names),
            str(out),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )


def fuse(plain: Path, out: Path, config: dict[str, Any]) -> None:
    """ONNX Runtime's BERT graph fusions, saved (an offline optimisation: the session loads it ready)."""
    from onnxruntime.transformers.optimizer import optimize_model

    model = optimize_model(
        str(plain), model_type="bert", num_heads=config["num_attention_heads"], hidden_size=config["hidden_size"],
        opt_level=1,
    )  # fmt: skip
    model.save_model_to_file(str(out))


def quantize(plain: Path, out: Path) -> None:
    """Dynamic int8, per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(plain), str(out), weight_type=QuantType.QInt8, per_channel=True)


def torch_vectors(model_dir: Path) -> Any:
    """The probes as sentence-transformers embeds them today (EMBEDDING_BACKEND=torch)."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    return np.asarray(model.encode(PROBES, normalize_embeddings=True))


def build(model_dir: Path, folder: Path) -> dict[str, Any]:
    """Export, fuse, quantize and check in a scratch folder beside `folder`, then move it into place whole."""
    import numpy as np

    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        started = time.perf_counter()
        plain = scratch / "plain.onnx"
        export_fp32(model_dir, plain)
        fuse(plain, scratch / FILES["onnx"], json.loads((model_dir / "config.json").read_text()))
        quantize(plain, scratch / FILES["onnx-int8"])
        plain.unlink()
        reference = torch_vectors(model_dir)
        check: dict[str, Any] = {"flags": kernel_flags(), "backends": {}, "failed": {}}
        for backend, name in FILES.items():
            vectors = np.asarray(OnnxEmbeddings(scratch / name, model_dir).embed_documents(PROBES))
            cosine = float((vectors * reference).sum(axis=1).min())
            if cosine >= FLOORS[backend]:
                check["backends"][backend] = {"file": name, "sha256": file_digest(scratch / name), "cosine_min": cosine}
            else:
                check["failed"][backend] = f"cosine to PyTorch's vectors {cosine:.4f} < {FLOORS[backend]}"
                (scratch / name).unlink()
        check["seconds"] = round(time.perf_counter() - started, 1)
        (scratch / CHECK_FILE).write_text(json.dumps(check, indent=2))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(scratch, folder)
        return check
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main() -> int:
    """Export and check unless a checked export is there; 1 (torch stays) when the export fails."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="export again even when a checked export exists")
    args = parser.parse_args()
    from core.factories import embedding_model_path

    # The exporter's and the quantizer's advice (TracerWarnings, "consider pre-processing") and the weight-loading
    # bars are noise in an install log: the check below is what says whether an export is good.
    warnings.filterwarnings("ignore")
    logging.getLogger().setLevel(logging.ERROR)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()
    model_dir = embedding_model_path()
    folder = export_dir(model_dir)
    if not args.force and (folder / CHECK_FILE).is_file():
        log(f"checked export in {folder}")
        return 0
    log(f"exporting {model_dir} for ONNX Runtime into {folder} (once per CPU, about a minute)")
    try:
        check = build(model_dir, folder)
    except Exception as exc:  # an export that fails leaves torch, which always works: say why, don't stop the install
        log(f"export failed, EMBEDDING_BACKEND=torch will be used: {type(exc).__name__}: {exc}")
        return 1
    for backend, entry in check["backends"].items():
        log(f"{backend}: checked, cosine to PyTorch's vectors ≥ {entry['cosine_min']:.4f}")
    for backend, why in check["failed"].items():
        log(f"{backend}: not used, {why}")
    log(f"done in {check['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
