"""Answers at once (graph/runnable.py) and LLM slots (core/slots.py): an answer that needs no model call never
waits behind one that does, one conversation's turns stay in order, and LLM calls never exceed their slots."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from core import factories
from core.slots import SlotLimited, Slots
from graph.graph import create_graph
from graph.runnable import MentorRunnable
from tests.unit.test_graph import BagOfWords, FakeStore, hit


class HeldChat(GenericFakeChatModel):
    """A chat model whose every call waits until the test lets it go, as a busy model server would."""

    release: Any = None

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        assert self.release.wait(10), "the test never released the model"
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def _wire(monkeypatch) -> threading.Event:
    release = threading.Event()
    llm = HeldChat(messages=iter(AIMessage("Hi! Ask me about your course.") for _ in range(8)), release=release)
    monkeypatch.setattr(factories, "get_llm", lambda *a, **k: llm)
    monkeypatch.setattr(factories, "shared_store", lambda: FakeStore([[hit(1, 0.9)]]))
    monkeypatch.setattr(factories, "get_embeddings", lambda *a, **k: BagOfWords())
    return release


async def _race(mentor: MentorRunnable, release: threading.Event, same_conversation: bool) -> tuple[bool, bool]:
    """A greeting (an LLM call, held) and then thanks (a fixed reply, no model): was the thanks answered while the
    greeting was still held, and did both finish once it was let go?"""
    conversation = None
    if same_conversation:  # a conversation id is issued with a first answer (a fixed reply: the model is held)
        conversation = (await mentor.ainvoke({"question": "Thanks!"}))["conversation_id"]
    held = asyncio.create_task(mentor.ainvoke({"question": "hello!", "conversation_id": conversation}))
    await asyncio.sleep(0.3)  # the greeting is in the model by now
    thanks = asyncio.create_task(mentor.ainvoke({"question": "Thanks!", "conversation_id": conversation}))
    done, _ = await asyncio.wait({thanks}, timeout=2)
    answered_while_held = thanks in done
    release.set()
    results = await asyncio.gather(held, thanks)
    return answered_while_held, all(r["answer"] for r in results)


def test_an_answer_without_the_model_does_not_wait_behind_one_with_it(monkeypatch):
    release = _wire(monkeypatch)
    mentor = MentorRunnable(create_graph(InMemorySaver()), at_once=4)
    answered_while_held, finished = asyncio.run(_race(mentor, release, same_conversation=False))
    assert answered_while_held and finished


def test_one_at_a_time_keeps_every_answer_behind_the_one_in_the_model(monkeypatch):
    """ANSWERS_AT_ONCE=1 is the old serial gate: the same race is lost (so the test above can fail)."""
    release = _wire(monkeypatch)
    mentor = MentorRunnable(create_graph(InMemorySaver()), at_once=1)
    answered_while_held, finished = asyncio.run(_race(mentor, release, same_conversation=False))
    assert not answered_while_held and finished


def test_a_conversations_turns_run_one_after_the_other(monkeypatch):
    release = _wire(monkeypatch)
    mentor = MentorRunnable(create_graph(InMemorySaver()), at_once=4)
    answered_while_held, finished = asyncio.run(_race(mentor, release, same_conversation=True))
    assert not answered_while_held and finished


def test_llm_calls_never_exceed_their_slots_and_all_finish():
    slots = Slots(2)
    running, most = 0, 0
    lock = threading.Lock()

    def call(x: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return x * 2

    limited = SlotLimited(RunnableLambda(call), slots)
    threads = [threading.Thread(target=lambda i=i: results.append(limited.invoke(i))) for i in range(8)]
    results: list[int] = []
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most == 2 and sorted(results) == [i * 2 for i in range(8)]
    assert slots.busy == 0 and slots.waiting == 0


def test_a_stream_holds_its_slot_until_its_last_chunk():
    slots = Slots(1)
    limited = SlotLimited(RunnableLambda(lambda x: x), slots)
    chunks = limited.stream("abc")
    assert next(chunks) == "abc" and slots.busy == 1
    assert list(chunks) == [] and slots.busy == 0
