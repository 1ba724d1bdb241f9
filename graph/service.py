"""The graph as a service: conversation ids → checkpointer threads, token streaming, fair queueing.

LangServe serves `MentorRunnable`; the original app's /api/chat and /api/chat/stream call it too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.messages import AIMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field

from graph.graph import builder

ANSWER_NODES = {"generate", "respond"}


class MentorInput(BaseModel):
    """A student's question; the same conversation_id continues a conversation."""

    question: str = Field(..., min_length=1, description="The student's question.")
    conversation_id: str | None = Field(None, description="Continue this conversation (omit to start one).")
    module: str | None = Field(None, description="Answer only from this course folder, e.g. week03.")


class SourceOut(BaseModel):
    n: int
    source: str
    title: str = ""
    headings: str = ""
    module: str = ""
    page: int = 0
    slide: int = 0
    cell: int = 0
    anchor: str = ""
    score: float = 0.0
    snippet: str = ""
    text: str = ""


class MentorOutput(BaseModel):
    answer: str
    sources: list[SourceOut] = []
    grounded: bool = False
    route: str = ""
    rewrites: int = 0
    query: str = Field("", description="The standalone search query the question became.")
    turns: int = Field(0, description="Questions asked so far in this conversation.")
    conversation_id: str = ""


def _is_answer_token(message: object, meta: dict) -> bool:
    """Streamed chunks of the answering nodes; the full message a node returns is not re-sent."""
    return isinstance(message, AIMessageChunk) and meta.get("langgraph_node") in ANSWER_NODES and bool(message.content)


def compile_graph(checkpointer: BaseCheckpointSaver | None) -> CompiledStateGraph:
    return builder.compile(checkpointer=checkpointer, name="AI Mentor")


class MentorRunnable(Runnable[dict, dict]):
    """Input {question, conversation_id?, module?} → {answer, sources, grounded, route, rewrites, conversation_id}.

    Streams `{"token": ...}` chunks while the answer is generated, then one chunk with the final output.
    Requests are served one at a time, first come first served: the single llama.cpp server would
    otherwise interleave them and lose the prompt-prefix cache each answer relies on.
    """

    def __init__(self, graph: CompiledStateGraph | None = None, max_concurrent: int = 1) -> None:
        self.graph = graph
        self.max_concurrent = max_concurrent
        self._gate: asyncio.Semaphore | None = None

    @property
    def InputType(self) -> type[MentorInput]:  # noqa: N802 (LangChain's API name)
        return MentorInput

    @property
    def OutputType(self) -> type[MentorOutput]:  # noqa: N802
        return MentorOutput

    def _prepare(self, value: Any, config: RunnableConfig | None) -> tuple[dict, RunnableConfig, str]:
        if self.graph is None:
            raise RuntimeError("The tutor graph is not ready yet.")
        request = value if isinstance(value, MentorInput) else MentorInput.model_validate(value)
        question = request.question.strip()
        if not question:
            raise ValueError("question must not be blank")
        conversation_id = request.conversation_id or uuid.uuid4().hex
        config = dict(config or {})
        configurable = dict(config.get("configurable") or {})
        configurable["thread_id"] = conversation_id
        if request.module:
            configurable["module"] = request.module
        config["configurable"] = configurable
        return {"question": question}, RunnableConfig(**config), conversation_id  # type: ignore[typeddict-item]

    @staticmethod
    def _output(state: dict, conversation_id: str) -> dict:
        sources = list(state.get("sources", []))
        return {
            "answer": state.get("answer", ""),
            "sources": sources,
            "grounded": bool(state.get("grounded")),
            "route": state.get("route", ""),
            "rewrites": int(state.get("rewrites", 0)),
            "query": state.get("query", ""),
            "turns": int(state.get("turns", 0)),
            "conversation_id": conversation_id,
        }

    def _gate_for_loop(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.max_concurrent)
        return self._gate

    # sync API (notebooks, tests); the server uses the async one
    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        return self._output(self.graph.invoke(graph_input, cfg), conversation_id)

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[dict]:
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict = {}
        for mode, chunk in self.graph.stream(graph_input, cfg, stream_mode=["messages", "values"]):
            if mode == "messages":
                message, meta = chunk
                if _is_answer_token(message, meta):
                    yield {"token": message.content}
            else:
                final = chunk
        yield self._output(final, conversation_id)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        async with self._gate_for_loop():
            state = await self.graph.ainvoke(graph_input, cfg)
        return self._output(state, conversation_id)

    async def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> AsyncIterator[dict]:
        graph_input, cfg, conversation_id = self._prepare(input, config)
        assert self.graph is not None
        final: dict = {}
        async with self._gate_for_loop():
            async for mode, chunk in self.graph.astream(graph_input, cfg, stream_mode=["messages", "values"]):
                if mode == "messages":
                    message, meta = chunk
                    if _is_answer_token(message, meta):
                        yield {"token": message.content}
                else:
                    final = chunk
        yield self._output(final, conversation_id)
