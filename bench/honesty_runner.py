"""Runs questions through whichever tutor graph is first on sys.path and writes what happened (bench/honesty.py).

A script, not a module of the package, so bench/honesty.py can run it against an older checkout of the code
(PYTHONPATH=that checkout) as well as against this one: it imports nothing of the project but `graph.graph`.

    python bench/honesty_runner.py QUESTIONS.json OUT.json '{"configurable": {...}}'
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from core.sources import cited


class Recorder(BaseCallbackHandler):
    """LLM calls, and the first retrieval's candidates with the grading evidence, of one question."""

    def __init__(self) -> None:
        self.llm_calls = 0
        self.nodes: dict[UUID, str] = {}
        self.candidates: list[dict] = []
        self.evidence: list[dict] = []
        self.relevant: list[int] | None = None
        self.unknown: list[str] = []

    def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
        self.llm_calls += 1

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, metadata: dict | None = None,
                       **kwargs: Any) -> None:  # fmt: skip
        node = (metadata or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self.nodes[run_id] = node

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        node = self.nodes.pop(run_id, None)
        if node == "retrieve" and not self.candidates and isinstance(outputs, dict):
            self.candidates = [
                {"source": c["metadata"].get("source", ""), "score": c["score"], "text": c["text"]}
                for c in outputs.get("candidates", [])
            ]
        elif node == "grade_documents" and self.relevant is None and isinstance(outputs, dict):
            self.relevant = list(outputs.get("relevant", []))
            self.evidence = list(outputs.get("evidence", []))
            self.unknown = list(outputs.get("unknown_terms", []))


def main() -> None:
    questions_path, out_path, config_json = sys.argv[1:4]
    from langgraph.checkpoint.memory import InMemorySaver

    from graph.graph import create_graph

    graph = create_graph(InMemorySaver())  # a follow-up is the second turn of one conversation (thread)

    with open(questions_path) as handle:
        questions = json.load(handle)
    base = json.loads(config_json)
    warm_up: RunnableConfig = {"configurable": {**base.get("configurable", {}), "thread_id": "warm-up"}}
    graph.invoke({"question": "What is a variable?"}, warm_up)
    rows = []
    for i, item in enumerate(questions, start=1):
        recorder = Recorder()
        configurable = {**base.get("configurable", {}), "thread_id": f"bench-{i}"}
        config: RunnableConfig = {"configurable": configurable, "callbacks": [recorder]}
        earlier = item.get("turns", [])[:-1]  # a follow-up: the turns before it, asked first in the same thread
        try:
            for turn in earlier:
                graph.invoke({"question": turn}, {"configurable": configurable})
            started = time.perf_counter()
            out = graph.invoke({"question": item.get("question") or item["turns"][-1]}, config)
        except Exception as exc:  # one failed question (a timed-out LLM call) is reported, not fatal
            print(f"{i}/{len(questions)} error {type(exc).__name__}: {exc}", flush=True)
            rows.append({"id": item["id"], "error": f"{type(exc).__name__}: {exc}"})
            continue
        seconds = time.perf_counter() - started
        answer = str(out.get("answer", ""))
        rows.append({
            "id": item["id"],
            "answer": answer,
            "grounded": bool(out.get("grounded")),
            "route": out.get("route", ""),
            "held_back": out.get("held_back", ""),
            "sources": [{"n": s["n"], "source": s["source"], "text": s.get("text", "")} for s in out["sources"]],
            "cited": sorted(cited(answer)),  # not `primes[0]` nor a code block's `x = [1]`
            "query": out.get("query", ""),
            "support": out.get("support", []),
            "verified": out.get("verified", {}),
            "llm_calls": recorder.llm_calls,
            "seconds": round(seconds, 3),
            "candidates": recorder.candidates,
            "evidence": recorder.evidence,
            "relevant": recorder.relevant or [],
            "unknown_terms": recorder.unknown,
        })  # fmt: skip
        asked = item.get("question") or " / ".join(item["turns"])
        print(f"{i}/{len(questions)} {seconds:5.1f}s grounded={rows[-1]['grounded']!s:5} {asked}", flush=True)
    with open(out_path, "w") as handle:
        json.dump(rows, handle)


if __name__ == "__main__":
    main()
