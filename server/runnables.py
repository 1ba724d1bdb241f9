"""The graph as a served runnable: conversation ids → checkpointer threads, token streaming, fair queueing.

LangServe serves `MentorRunnable`; the original app's /api/chat and /api/chat/stream call it too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import ConfigurableFieldSpec, Runnable, RunnableConfig
from langchain_core.runnables.config import merge_configs, patch_config
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, field_validator

from core.sources import Source
from graph import prompts
from graph.configuration import config_specs
from graph.graph import ANSWER_TAG
from server import metrics
from server.conversations import issue_conversation_id, keep_latest_checkpoint
from server.validation import ConversationId, ModuleName, Question, check_question

log = logging.getLogger("ai_mentor.server")


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


class SupportOut(BaseModel):
    """How one sentence of the model's reply stands on the notes; unsupported ones are not in the answer."""

    text: str
    supported: bool
    n: int = Field(0, description="The [n] source that supports it best; 0 = none.")
    similarity: float = 0.0
    overlap: float = 0.0


class VerifiedOut(BaseModel):
    """Counts over the checked answer."""

    style: str = Field("", description="generative (the model's checked reply) or extractive (quoted notes).")
    sentences: int = 0
    supported: int = 0
    dropped: int = 0


class MentorOutput(BaseModel):
    """The tutor's answer with its sources and how it was checked."""

    answer: str
    sources: list[Source] = []
    grounded: bool = Field(False, description="True only when every sentence of the answer is supported by a source.")
    support: list[SupportOut] = []
    verified: VerifiedOut | None = None
    route: str = ""
    rewrites: int = 0
    query: str = Field("", description="The standalone search query the question became.")
    turns: int = Field(0, description="Questions asked so far in this conversation.")
    conversation_id: str = ""
    answer_id: str = Field("", description="Random id of this answer: POST /api/feedback refers to it.")


@dataclass
class Answered:
    """What the runnable tells `on_answer` about each answer (the interaction log, server/interactions.py)."""

    question: str
    module: str
    conversation_id: str
    output: dict
    seconds: float
    first_token_seconds: float | None = None
    at: float = 0.0


def _is_answer_token(message: object, meta: dict) -> bool:
    """Streamed chunks of the LLM calls tagged as the answer; the full message a node returns is not re-sent."""
    return isinstance(message, AIMessageChunk) and ANSWER_TAG in (meta.get("tags") or []) and bool(message.content)


def _token(mode: str, chunk: Any) -> dict | None:
    """A `{"token": …}` chunk for the client, or None: small talk's tagged LLM tokens ("messages"), and the
    checked answer text the generate node writes ("custom")."""
    if mode == "messages":
        message, meta = chunk
        return {"token": message.content} if _is_answer_token(message, meta) else None
    if mode == "custom" and isinstance(chunk, dict) and chunk.get("token"):
        return {"token": chunk["token"]}
    return None


class MentorRunnable(Runnable[dict, dict]):
    """Input {question, conversation_id?, module?} → {answer, sources, grounded, route, rewrites, conversation_id}.

    Streams `{"token": ...}` chunks while the answer is generated, then one chunk with the final output.
    Requests are served one at a time, first come first served: the single llama.cpp server would
    otherwise interleave them and lose the prompt-prefix cache each answer relies on.
    """

    def __init__(self, graph: CompiledStateGraph | None = None) -> None:
        self.graph = graph
        self._gate: asyncio.Semaphore | None = None
        # Told of every answer (the interaction log, server/interactions.py); must return at once.
        self.on_answer: Callable[[Answered], None] | None = None

    @property
    def InputType(self) -> Any:  # noqa: N802 (LangChain's API name); Any as in langchain-core's own subclasses
        """MentorInput: LangServe validates, documents and renders the body from it."""
        return MentorInput

    @property
    def OutputType(self) -> Any:  # noqa: N802
        """MentorOutput, for LangServe's output schema."""
        return MentorOutput

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """Per-request settings LangServe accepts in `config.configurable` (graph/configuration.py)."""
        return config_specs()

    def _prepare(self, value: Any, config: RunnableConfig | None) -> tuple[dict, RunnableConfig, str]:
        if self.graph is None:
            raise RuntimeError("The tutor graph is not ready yet.")
        request = value if isinstance(value, MentorInput) else MentorInput.model_validate(value)
        question = request.question
        conversation_id = request.conversation_id or issue_conversation_id()
        merged: dict[str, Any] = dict(config or {})
        configurable = dict(merged.get("configurable") or {})
        configurable["thread_id"] = conversation_id
        if request.module:
            configurable["module"] = request.module
        merged["configurable"] = configurable
        # every LLM call of the graph is timed for /metrics
        cfg = merge_configs(RunnableConfig(**merged), {"callbacks": [metrics.LLM_TIMER]})  # type: ignore[typeddict-item]
        return {"question": question}, cfg, conversation_id

    @staticmethod
    def _unfinished(snapshot: Any, graph_input: dict) -> bool:
        """The thread stopped mid-turn on this very question: a replica died (kill -9, crash) or the LLM
        failed. The client's retry then finishes that turn from its last checkpoint instead of starting it
        again, so it counts once (`turns`) and the question is not in the history twice."""
        return bool(snapshot.next) and snapshot.values.get("question") == graph_input["question"]

    def _start(self, graph_input: dict, cfg: RunnableConfig) -> dict | None:
        assert self.graph is not None
        if self.graph.checkpointer is None or not self._unfinished(self.graph.get_state(cfg), graph_input):
            return graph_input
        return None

    async def _astart(self, graph_input: dict, cfg: RunnableConfig) -> dict | None:
        assert self.graph is not None
        if self.graph.checkpointer is None or not self._unfinished(await self.graph.aget_state(cfg), graph_input):
            return graph_input
        return None

    @staticmethod
    def _output(state: dict, conversation_id: str) -> dict:
        sources = list(state.get("sources", []))
        output = {
            "answer": state.get("answer", ""),
            "sources": sources,
            "grounded": bool(state.get("grounded")),
            "support": list(state.get("support") or []),
            "verified": state.get("verified") or None,
            "route": state.get("route", ""),
            "rewrites": int(state.get("rewrites", 0)),
            "query": state.get("query", ""),
            "turns": int(state.get("turns", 0)),
            "conversation_id": conversation_id,
            "answer_id": secrets.token_hex(16),
        }
        metrics.count_answer(output)
        return output

    def _closing(
        self, graph_input: dict, cfg: RunnableConfig, output: dict, started: float, first_token: float | None
    ) -> list[dict]:
        """A stream's last chunks: a refusal's text as its one token (no model wrote it, yet the tokens add up to
        the answer), then the whole output."""
        chunks = []
        if first_token is None and output["answer"]:
            first_token = time.perf_counter()
            chunks.append({"token": output["answer"]})
        return [*chunks, self._answered(graph_input, cfg, output, started, first_token)]

    def _answered(
        self, graph_input: dict, cfg: RunnableConfig, output: dict, started: float, first_token: float | None
    ) -> dict:
        """Tell `on_answer` (question, output, seconds, first token); its failure never costs the answer."""
        if self.on_answer is not None:
            item = Answered(
                question=graph_input["question"],
                module=str((cfg.get("configurable") or {}).get("module") or ""),
                conversation_id=output["conversation_id"],
                output=output,
                seconds=time.perf_counter() - started,
                first_token_seconds=None if first_token is None else first_token - started,
            )
            try:
                self.on_answer(item)
            except Exception:  # recording must never cost a student an answer
                log.exception("recording an answer failed")
        return output

    def _gate_for_loop(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(1)
        return self._gate

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """Wait for this request's turn at the model (first come, first served), counted in /metrics."""
        gate = self._gate_for_loop()
        metrics.QUEUE_DEPTH.inc()
        try:
            await gate.acquire()
        finally:
            metrics.QUEUE_DEPTH.dec()
        try:
            yield
        finally:
            gate.release()

    # sync API (notebooks, tests); the server uses the async one
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        """Sync path for notebooks and tests; it skips the queue, which only the async server paths share."""
        started = time.perf_counter()
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        output = self._output(self.graph.invoke(self._start(graph_input, cfg), cfg), conversation_id)
        return self._answered(graph_input, cfg, output, started, None)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict]:
        """`{"token": ...}` chunks of the checked answer, then the whole output."""
        started, first_token = time.perf_counter(), None
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict = {}
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

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        """Waits its turn (one answer at a time), then runs the graph."""
        started = time.perf_counter()
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        async with self._turn():
            state = await self.graph.ainvoke(await self._astart(graph_input, cfg), cfg)
            await keep_latest_checkpoint(self.graph.checkpointer, conversation_id)
        return self._answered(graph_input, cfg, self._output(state, conversation_id), started, None)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[dict]:
        """Waits its turn, then streams `{"token": ...}` chunks and the whole output last."""
        started, first_token = time.perf_counter(), None
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict = {}
        async with self._turn():
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


# ---- chat interface (LangServe's chat playground) -------------------------------------------------
SOURCES_HEADER = "\n\nSources:\n"


class ChatInput(BaseModel):
    """The chat so far, oldest first; the last message is the student's question."""

    messages: list[HumanMessage | AIMessage | SystemMessage] = Field(
        ..., min_length=1, description="The conversation so far; the last message is the question."
    )

    @field_validator("messages", mode="wrap")
    @classmethod
    def _well_formed(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> list[BaseMessage]:
        """langchain-core's AIMessage raises TypeError on malformed `invalid_tool_calls`: still the client's."""
        try:
            return handler(value)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"a message is malformed ({type(exc).__name__}: {exc})") from None

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[BaseMessage]) -> list[BaseMessage]:
        if not isinstance(messages[-1], HumanMessage):
            raise ValueError("the last message must be the student's question")
        check_question(_text(messages[-1]))
        return messages


def _text(message: BaseMessage) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(part if isinstance(part, str) else str(part.get("text", "")) for part in content)


def location(source: Source) -> str:
    """`week02/loops_handout.pdf, page 3`, `week04/functions.html, #defaults`: where to look."""
    parts = [source["source"] or "?"]
    parts += [f"page {source['page']}"] if source.get("page") else []
    parts += [f"slide {source['slide']}"] if source.get("slide") else []
    parts += [f"cell {source['cell']}"] if source.get("cell") else []
    if source.get("anchor"):
        parts.append(f"#{source['anchor']}")
    return ", ".join(parts)


def format_chat_answer(output: dict) -> str:
    """The answer as a person reads it: citations [n] resolved to a numbered source list below it; a refusal
    followed by the closest material found."""
    answer = str(output.get("answer", "")).strip()
    sources = output.get("sources") or []
    if not sources:
        return answer  # small talk, or nothing came close
    lines = []
    for s in sources:
        line = f"[{s['n']}] " + location(s)
        section = str(s.get("headings") or s.get("title") or "").split(" > ")[-1]
        if section:
            line += f" — {section}"
        lines.append(line)
    header = SOURCES_HEADER if output.get("grounded") else "\n\n" + prompts.CLOSEST_SOURCES + "\n"
    return answer + header + "\n".join(lines)


def _strip_sources(text: str) -> str:
    """A chat history's answers without the source lists format_chat_answer appended."""
    for header in (SOURCES_HEADER, "\n\n" + prompts.CLOSEST_SOURCES + "\n"):
        head, sep, _ = text.rpartition(header)
        if sep:
            return head
    return text


CONVERSATION_SPEC = ConfigurableFieldSpec(
    id="conversation_id",
    annotation=str,  # default None; a plain type keeps the schema renderable by the playgrounds
    name="Conversation id",
    description="Continue this server-side conversation; the messages' history is then ignored. "
    "Without it the history sent in `messages` is the conversation.",
    default=None,
)


class ChatMentorRunnable(Runnable[dict, str]):
    """{"messages": [...]} → the answer as text with its sources listed below (for LangServe's chat playground).

    Wraps a `MentorRunnable` (same graph, same one-at-a-time queue). The conversation is either the
    server-side one named by `configurable.conversation_id`, or, without it, the history the client sends:
    it is loaded into a temporary thread that is deleted after the answer (the playground sends the whole
    chat every time). The output is sent as one chunk: the final answer is post-processed (citations checked,
    a refusal replaces a model's guess), so its tokens are streamed by /mentor/stream, not here.
    """

    def __init__(self, mentor: MentorRunnable) -> None:
        self.mentor = mentor

    @property
    def InputType(self) -> Any:  # noqa: N802
        """ChatInput: the messages LangServe's chat playground sends."""
        return ChatInput

    @property
    def OutputType(self) -> type[str]:  # noqa: N802
        """Plain text: the chat playground shows the answer with its sources listed."""
        return str

    @property
    def config_specs(self) -> list[ConfigurableFieldSpec]:
        """The conversation id plus every per-request knob (graph/configuration.py), set from the chat playground."""
        return [CONVERSATION_SPEC, *config_specs()]

    @staticmethod
    def _parse(value: Any) -> tuple[str, list[BaseMessage]]:
        request = value if isinstance(value, ChatInput) else ChatInput.model_validate(value)
        question = _text(request.messages[-1]).strip()
        history: list[BaseMessage] = []
        for message in request.messages[:-1]:  # system messages from a client are not instructions
            if isinstance(message, HumanMessage):
                history.append(HumanMessage(_text(message)))
            elif isinstance(message, AIMessage):
                history.append(AIMessage(_strip_sources(_text(message))))
        return question, history

    def _payload(self, question: str, config: RunnableConfig) -> tuple[dict, str | None]:
        configurable = config.get("configurable") or {}
        conversation_id = configurable.get("conversation_id")
        return {"question": question, "conversation_id": conversation_id or None}, conversation_id

    def _seed_values(self, history: list[BaseMessage]) -> dict:
        return {"messages": history, "turns": sum(isinstance(m, HumanMessage) for m in history)}

    def _one_off_thread(self, payload: dict) -> tuple[Any, RunnableConfig, BaseCheckpointSaver | None]:
        """A throwaway thread for a chat that brings its own history: seeded, used once, then deleted."""
        graph = self.mentor.graph
        if graph is None:
            raise RuntimeError("The tutor graph is not ready yet.")
        payload["conversation_id"] = issue_conversation_id()
        thread = RunnableConfig(configurable={"thread_id": payload["conversation_id"]})
        saver = cast(BaseCheckpointSaver, graph.checkpointer) if graph.checkpointer is not None else None
        return graph, thread, saver

    async def _atransform(
        self, inputs: AsyncIterator[Any], run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> AsyncIterator[str]:
        question, history = self._parse([value async for value in inputs][-1])
        payload, conversation_id = self._payload(question, config)
        child = patch_config(config, callbacks=run_manager.get_child())
        if conversation_id:
            yield format_chat_answer(await self.mentor.ainvoke(payload, child))
            return
        graph, thread, saver = self._one_off_thread(payload)
        try:
            if history:
                await graph.aupdate_state(thread, self._seed_values(history), as_node="generate")
            output = await self.mentor.ainvoke(payload, child)
        finally:
            if saver is not None:
                await saver.adelete_thread(payload["conversation_id"])
        yield format_chat_answer(output)

    def _transform(
        self, inputs: Iterator[Any], run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Iterator[str]:
        question, history = self._parse(list(inputs)[-1])
        payload, conversation_id = self._payload(question, config)
        child = patch_config(config, callbacks=run_manager.get_child())
        if conversation_id:
            yield format_chat_answer(self.mentor.invoke(payload, child))
            return
        graph, thread, saver = self._one_off_thread(payload)
        try:
            if history:
                graph.update_state(thread, self._seed_values(history), as_node="generate")
            output = self.mentor.invoke(payload, child)
        finally:
            if saver is not None:
                saver.delete_thread(payload["conversation_id"])
        yield format_chat_answer(output)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[str]:
        """One chunk: the finished, checked answer."""
        yield from self._transform_stream_with_config(iter([input]), self._transform, config, **kwargs)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[str]:
        """One chunk: the finished, checked answer."""

        async def single() -> AsyncIterator[Any]:
            yield input

        async for chunk in self._atransform_stream_with_config(single(), self._atransform, config, **kwargs):
            yield chunk

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        """The answer text with its sources listed below it."""
        return "".join(self.stream(input, config, **kwargs))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> str:
        """The answer text with its sources listed below it."""
        return "".join([chunk async for chunk in self.astream(input, config, **kwargs)])
