"""A bound on calls in flight to a server with a fixed number of slots (llama-server's `--parallel`).

The API answers many students at once, and most answers need no model call at all. Those that do wait here for
a free slot rather than at the model server: a call queued inside llama-server counts against its HTTP timeout
(LLM_TIMEOUT) and would fail as "LLM down" under load, while a call waiting here has not been sent yet.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

Input = TypeVar("Input")
Output = TypeVar("Output")


class Slots:
    """A counting semaphore that also says how many callers are waiting (for /metrics and benchmarks)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._free = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self.waiting = 0
        self.busy = 0

    def __enter__(self) -> Slots:
        with self._lock:
            self.waiting += 1
        try:
            self._free.acquire()
        finally:
            with self._lock:
                self.waiting -= 1
        with self._lock:
            self.busy += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.busy -= 1
        self._free.release()


class SlotLimited(Runnable[Input, Output], Generic[Input, Output]):
    """`bound`, called only while holding one of `slots`; a stream holds its slot until it ends.

    Invisible to callbacks (no run of its own): the chat model's run, its tags and its streamed tokens are as
    without it. The graph's nodes are sync (LangGraph runs them in threads under `astream`), so only the sync
    calls wait here; Runnable's async defaults run them in a thread."""

    def __init__(self, bound: Runnable[Input, Output], slots: Slots) -> None:
        self.bound = bound
        self.slots = slots

    def invoke(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any) -> Output:
        """One call, in a slot."""
        with self.slots:
            return self.bound.invoke(input, config, **kwargs)

    def stream(self, input: Input, config: RunnableConfig | None = None, **kwargs: Any | None) -> Iterator[Output]:
        """Chunks of one call, the slot held until the last one."""
        with self.slots:
            yield from self.bound.stream(input, config, **kwargs)
