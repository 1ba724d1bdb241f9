"""The quiz as a LangChain Runnable, served by LangServe at /quiz (invoke, stream, batch; usable from
RemoteRunnable): {scope, module?, topic?, n?} → items without their keys.

No student id and no progress here: a RemoteRunnable user gets the questions; answering, reviews and mastery
go through the JSON routes (server/study.py), which issue and check the student's id.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from langchain_core.runnables import Runnable, RunnableLambda
from pydantic import BaseModel, Field

from study.bank import BankCache
from study.quiz import DEFAULT_ITEMS, MAX_ITEMS, QuizRequest, candidates, choose


class QuizInput(BaseModel):
    """What to be quizzed on."""

    scope: Literal["module", "topic", "course"] = "course"
    module: str = Field("", max_length=100, description="A module (a top folder of the course): scope 'module'.")
    topic: str = Field("", max_length=500, description="Free text, matched on its content words: scope 'topic'.")
    n: int = Field(DEFAULT_ITEMS, ge=1, le=MAX_ITEMS, strict=True)


class QuizOutput(BaseModel):
    """A quiz: its items as a student sees them (prompt, body, code, options, citation; no key)."""

    scope: str
    module: str
    topic: str
    items: list[dict[str, Any]]


def quiz_runnable(banks: BankCache, language: str = "english") -> Runnable[Any, Any]:
    """The runnable; a request the course can't serve raises QuizError (404/422 by the error policy)."""

    def make(value: QuizInput | dict[str, Any]) -> QuizOutput:
        request = value if isinstance(value, QuizInput) else QuizInput.model_validate(value)
        items = candidates(banks.get(), QuizRequest(request.scope, request.module, request.topic, request.n), language)
        chosen = choose(items, request.n, seed=str(time.time_ns()))
        return QuizOutput(
            scope=request.scope, module=request.module, topic=request.topic, items=[i.public() for i in chosen]
        )

    return RunnableLambda(make, name="quiz").with_types(input_type=QuizInput, output_type=QuizOutput)
