"""The tutor as a chat runnable, the shape LangServe's chat playground wants: {"messages": [...]} in, the answer
as text out (server/mentor.py serves it at /mentor/chat).

The answer's sources are listed below its text here, and only here: every other surface gets the `Answer`
(core/answer.py) as data.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import ConfigurableFieldSpec, Runnable, RunnableConfig
from langchain_core.runnables.config import patch_config
from langgraph.checkpoint.base import BaseCheckpointSaver
from pydantic import BaseModel, Field, ValidatorFunctionWrapHandler, field_validator

from core.answer import Answer
from core.conversations import issue_conversation_id
from core.inputs import check_question
from core.sources import location
from graph import prompts
from graph.configuration import config_specs
from graph.runnable import MentorRunnable

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
            messages: list[BaseMessage] = handler(value)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"a message is malformed ({type(exc).__name__}: {exc})") from None
        return messages

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


def format_chat_answer(output: Answer) -> str:
    """The answer as a person reads it: citations [n] resolved to a numbered source list below it; a refusal
    followed by the closest material found."""
    answer = output["answer"].strip()
    sources = output["sources"]
    if not sources:
        return answer  # small talk, or nothing came close
    lines = []
    for s in sources:
        line = f"[{s['n']}] " + location(s)
        section = str(s.get("headings") or s.get("title") or "").split(" > ")[-1]
        if section:
            line += f" — {section}"
        lines.append(line)
    header = SOURCES_HEADER if output["grounded"] else "\n\n" + prompts.CLOSEST_SOURCES + "\n"
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


class ChatMentorRunnable(Runnable[dict[str, Any], str]):
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

    def _payload(self, question: str, config: RunnableConfig) -> tuple[dict[str, Any], str | None]:
        configurable = config.get("configurable") or {}
        conversation_id = configurable.get("conversation_id")
        return {"question": question, "conversation_id": conversation_id or None}, conversation_id

    def _seed_values(self, history: list[BaseMessage]) -> dict[str, Any]:
        return {"messages": history, "turns": sum(isinstance(m, HumanMessage) for m in history)}

    def _one_off_thread(self, payload: dict[str, Any]) -> tuple[Any, RunnableConfig, BaseCheckpointSaver[Any] | None]:
        """A throwaway thread for a chat that brings its own history: seeded, used once, then deleted."""
        graph = self.mentor.graph
        if graph is None:
            raise RuntimeError("The tutor graph is not ready yet.")
        payload["conversation_id"] = issue_conversation_id()
        thread = RunnableConfig(configurable={"thread_id": payload["conversation_id"]})
        saver = cast(BaseCheckpointSaver[Any], graph.checkpointer) if graph.checkpointer is not None else None
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
