"""The graph as a served runnable: conversation ids → checkpointer threads, token streaming, fair queueing.

LangServe serves `MentorRunnable`; the original app's /api/chat and /api/chat/stream call it too. What the
server watches is given to it (`callbacks` on every run, a `queue_depth` gauge, `on_answer` listeners), so
nothing here knows of metrics or of the interaction log.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import ConfigurableFieldSpec, Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs
from pydantic import BaseModel, ConfigDict

from core.answer import Answer, answer
from core.checkpoints import keep_latest_checkpoint
from core.conversations import issue_conversation_id
from core.inputs import ConversationId, ModuleName, Question
from graph.configuration import config_specs
from graph.graph import ANSWER_TAG, TutorGraph
from graph.state import InputState

log = logging.getLogger("ai_mentor.server")


@dataclass
class Answered:
    """What the runnable tells its `on_answer` listeners about each answer (the interaction log's record of it,
    classroom/interactions.py)."""

    question: str
    module: str
    conversation_id: str
    output: Answer
    seconds: float
    first_token_seconds: float | None = None
    at: float = 0.0


class Gauge(Protocol):
    """A level that goes up and down (prometheus_client's Gauge): the questions waiting for the model."""

    def inc(self) -> None:
        """One more."""

    def dec(self) -> None:
        """One fewer."""


def _playground_schema(schema: dict[str, Any]) -> None:
    """Optional fields appear as plain strings without a null default (not anyOf string/null, which
    LangServe's playground can't render), so the playground's form validates."""
    for name, prop in schema.get("properties", {}).items():
        if "default" in prop and prop["default"] is None:
            del prop["default"]
        types = prop.pop("anyOf", None)
        if types:
            schema["properties"][name] = {**next(t for t in types if t.get("type") != "null"), **prop}


class MentorInput(BaseModel):
    """A student's question; the same conversation_id continues a conversation."""

    model_config = ConfigDict(json_schema_extra=_playground_schema)

    question: Question
    conversation_id: ConversationId | None = None
    module: ModuleName | None = None


def _is_answer_token(message: object, meta: dict[str, Any]) -> bool:
    """Streamed chunks of the LLM calls tagged as the answer; the full message a node returns is not re-sent."""
    return isinstance(message, AIMessageChunk) and ANSWER_TAG in (meta.get("tags") or []) and bool(message.content)


def _token(mode: str, chunk: Any) -> dict[str, Any] | None:
    """A `{"token": …}` chunk for the client, or None: small talk's tagged LLM tokens ("messages"), and the
    checked answer text the generate node writes ("custom")."""
    if mode == "messages":
        message, meta = chunk
        return {"token": message.content} if _is_answer_token(message, meta) else None
    if mode == "custom" and isinstance(chunk, dict) and chunk.get("token"):
        return {"token": chunk["token"]}
    return None


class MentorRunnable(Runnable[dict[str, Any], Answer]):
    """Input {question, conversation_id?, module?} → the Answer (core/answer.py).

    Streams `{"token": ...}` chunks while the answer is generated, then one chunk with the Answer.
    Up to `at_once` answers run together (ANSWERS_AT_ONCE), the rest wait first come, first served; the LLM calls
    among them wait for one of the model server's slots (core/slots.py), so a quote that needs no model never
    waits behind a generated answer. One conversation's turns still run one after the other: each reads the
    history the previous one wrote.
    """

    def __init__(
        self,
        graph: TutorGraph | None = None,
        *,
        callbacks: Sequence[BaseCallbackHandler] = (),
        queue_depth: Gauge | None = None,
        at_once: int = 16,
    ) -> None:
        self.graph = graph
        self.callbacks = list(callbacks)  # added to every run's callbacks (the server times each LLM call)
        self.queue_depth = queue_depth  # the questions waiting for their turn, when the server watches it
        self.at_once = max(1, at_once)
        self._gate: asyncio.Semaphore | None = None
        # a lock per conversation while any turn of it runs or waits; dropped with its last user
        self._conversations: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        # Each is told of every answer (the server counts it, the interaction log records it); must return at once.
        self.on_answer: list[Callable[[Answered], None]] = []

    @property
    def InputType(self) -> Any:  # noqa: N802 (LangChain's API name); Any as in langchain-core's own subclasses
        """MentorInput: LangServe validates, documents and renders the body from it."""
        return MentorInput

    @property
    def OutputType(self) -> Any:  # noqa: N802
        """The Answer (core/answer.py), for LangServe's output schema."""
        return Answer

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """Per-request settings LangServe accepts in `config.configurable` (graph/configuration.py)."""
        return config_specs()

    def _prepare(self, value: Any, config: RunnableConfig | None) -> tuple[InputState, RunnableConfig, str]:
        if self.graph is None:
            raise RuntimeError("The tutor graph is not ready yet.")
        request = value if isinstance(value, MentorInput) else MentorInput.model_validate(value)
        question = request.question
        conversation_id = request.conversation_id or issue_conversation_id()
        merged: dict[str, Any] = dict[str, Any](config or {})
        configurable = dict(merged.get("configurable") or {})
        configurable["thread_id"] = conversation_id
        if request.module:
            configurable["module"] = request.module
        merged["configurable"] = configurable
        cfg = RunnableConfig(**merged)  # type: ignore[typeddict-item]
        if self.callbacks:
            cfg = merge_configs(cfg, {"callbacks": self.callbacks})
        return InputState(question=question), cfg, conversation_id

    @staticmethod
    def _unfinished(snapshot: Any, graph_input: InputState) -> bool:
        """The thread stopped mid-turn on this very question: a replica died (kill -9, crash) or the LLM
        failed. The client's retry then finishes that turn from its last checkpoint instead of starting it
        again, so it counts once (`turns`) and the question is not in the history twice."""
        return bool(snapshot.next) and snapshot.values.get("question") == graph_input["question"]

    def _start(self, graph_input: InputState, cfg: RunnableConfig) -> InputState | None:
        assert self.graph is not None
        if self.graph.checkpointer is None or not self._unfinished(self.graph.get_state(cfg), graph_input):
            return graph_input
        return None

    async def _astart(self, graph_input: InputState, cfg: RunnableConfig) -> InputState | None:
        assert self.graph is not None
        if self.graph.checkpointer is None or not self._unfinished(await self.graph.aget_state(cfg), graph_input):
            return graph_input
        return None

    @staticmethod
    def _output(state: dict[str, Any], conversation_id: str) -> Answer:
        return answer(state, conversation_id, secrets.token_hex(16))

    def _closing(
        self,
        graph_input: InputState,
        cfg: RunnableConfig,
        output: Answer,
        started: float,
        first_token: float | None,
    ) -> list[Any]:
        """A stream's last chunks: a refusal's text as its one token (no model wrote it, yet the tokens add up to
        the answer), then the whole output."""
        chunks = []
        if first_token is None and output["answer"]:
            first_token = time.perf_counter()
            chunks.append({"token": output["answer"]})
        return [*chunks, self._answered(graph_input, cfg, output, started, first_token)]

    def _answered(
        self,
        graph_input: InputState,
        cfg: RunnableConfig,
        output: Answer,
        started: float,
        first_token: float | None,
    ) -> Answer:
        """Tell each `on_answer` listener (question, output, seconds, first token); a failure never costs the answer."""
        if self.on_answer:
            item = Answered(
                question=graph_input["question"],
                module=str((cfg.get("configurable") or {}).get("module") or ""),
                conversation_id=output["conversation_id"],
                output=output,
                seconds=time.perf_counter() - started,
                first_token_seconds=None if first_token is None else first_token - started,
            )
            for listener in list(self.on_answer):
                try:
                    listener(item)
                except Exception:  # recording must never cost a student an answer
                    log.exception("telling %r of an answer failed", listener)
        return output

    def _gate_for_loop(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.at_once)
        return self._gate

    @asynccontextmanager
    async def _turn(self, conversation_id: str) -> AsyncIterator[None]:
        """Wait for this conversation's previous turn, then for one of the `at_once` places (first come, first
        served); the waiting is counted by `queue_depth`."""
        gate = self._gate_for_loop()
        conversation = self._conversations.setdefault(conversation_id, asyncio.Lock())
        if self.queue_depth is not None:
            self.queue_depth.inc()
        try:
            await conversation.acquire()
            try:
                await gate.acquire()
            except BaseException:  # cancelled while waiting: the conversation's next turn may go
                conversation.release()
                raise
        finally:
            if self.queue_depth is not None:
                self.queue_depth.dec()
        try:
            yield
        finally:
            gate.release()
            conversation.release()

    # sync API (notebooks, tests); the server uses the async one
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Sync path for notebooks and tests; it skips the queue, which only the async server paths share."""
        started = time.perf_counter()
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        output = self._output(self.graph.invoke(self._start(graph_input, cfg), cfg), conversation_id)
        return self._answered(graph_input, cfg, output, started, None)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        """`{"token": ...}` chunks of the checked answer, then the whole output."""
        started, first_token = time.perf_counter(), None
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict[str, Any] = {}
        # with a list stream_mode, langgraph yields (mode, chunk) pairs; its stubs only say dict | Any
        parts = cast(
            "Iterator[tuple[str, Any]]",
            self.graph.stream(self._start(graph_input, cfg), cfg, stream_mode=["messages", "custom", "values"]),
        )
        for mode, chunk in parts:
            if mode == "values":
                final = chunk
            elif token := _token(mode, chunk):
                first_token = first_token or time.perf_counter()
                yield token
        for chunk in self._closing(graph_input, cfg, self._output(final, conversation_id), started, first_token):
            yield chunk

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Answer:
        """Waits for a place (and its conversation's previous turn), then runs the graph."""
        started = time.perf_counter()
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        async with self._turn(conversation_id):
            state = await self.graph.ainvoke(await self._astart(graph_input, cfg), cfg)
            await keep_latest_checkpoint(self.graph.checkpointer, conversation_id)
        return self._answered(graph_input, cfg, self._output(state, conversation_id), started, None)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[Any]:
        """Waits its turn, then streams `{"token": ...}` chunks and the whole output last."""
        started, first_token = time.perf_counter(), None
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict[str, Any] = {}
        async with self._turn(conversation_id):
            parts = cast(
                "AsyncIterator[tuple[str, Any]]",
                self.graph.astream(
                    await self._astart(graph_input, cfg), cfg, stream_mode=["messages", "custom", "values"]
                ),
            )
            async for mode, chunk in parts:
                if mode == "values":
                    final = chunk
                elif token := _token(mode, chunk):
                    first_token = first_token or time.perf_counter()
                    yield token
            await keep_latest_checkpoint(self.graph.checkpointer, conversation_id)
        for chunk in self._closing(graph_input, cfg, self._output(final, conversation_id), started, first_token):
            yield chunk
