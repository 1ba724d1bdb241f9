"""What operators watch: GET /metrics in Prometheus' text format (behind the API key, like every route).

Requests and latency by route, seconds per LLM call by graph node, the fair queue's depth, refusals and
ingest runs. With API_WORKERS > 1, `python -m server` gives the workers one PROMETHEUS_MULTIPROC_DIR and
/metrics sums what every worker wrote there (prometheus_client's multiprocess mode), so a scrape is right
whichever worker answers it. Several replicas are scraped one by one, each with its own directory.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request, Response
from langchain_core.callbacks import BaseCallbackHandler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.answer import Answer

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNROUTED = "(unrouted)"  # 404s and requests refused before routing (401): one label, not one per path
# An answer takes seconds (LLM), a status route milliseconds: buckets span both.
SECONDS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

REQUESTS = Counter("mentor_http_requests", "HTTP requests answered, by route, method and status.",
                   ["route", "method", "status"])  # fmt: skip
LATENCY = Histogram("mentor_http_request_duration_seconds", "Time until the whole response was sent, by route.",
                    ["route", "method"], buckets=SECONDS)  # fmt: skip
LLM_SECONDS = Histogram("mentor_llm_seconds", "Seconds per LLM call, by graph node and outcome.",
                        ["node", "outcome"], buckets=SECONDS)  # fmt: skip
QUEUE_DEPTH = Gauge("mentor_queue_depth", "Questions waiting for an ANSWERS_AT_ONCE place or their conversation's turn",
                    multiprocess_mode="livesum")  # fmt: skip
ANSWERS = Counter("mentor_answers", "Answers given, by route (course, chat) and grounding.", ["route", "grounded"])
REFUSALS = Counter("mentor_refusals", "Course questions answered 'not in the materials' (no grounded answer).")
INGEST_RUNS = Counter("mentor_ingest_runs", "Ingest runs through /api/ingest, by outcome.", ["outcome"])


def prepare_workers(workers: int) -> None:
    """Before uvicorn starts several workers: one empty directory they all write their samples to."""
    if workers <= 1 and not os.environ.get(MULTIPROC_ENV):
        return
    path = Path(os.environ.get(MULTIPROC_ENV) or tempfile.mkdtemp(prefix="ai-mentor-metrics-"))
    if path.exists():
        shutil.rmtree(path)  # samples of an earlier run would be summed in
    path.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(path)


def _multiproc_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def _forget_dead_workers(path: str) -> None:
    """A worker killed with -9 never cleans up; its queue-depth gauge would be summed in for ever."""
    for file in Path(path).glob("gauge_live*_*.db"):
        match = re.search(r"_(\d+)\.db$", file.name)
        if match and not _alive(int(match.group(1))):
            multiprocess.mark_process_dead(int(match.group(1)), path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def count_answer(output: Answer) -> None:
    """Count one answer; a course question without a grounded answer is a refusal."""
    ANSWERS.labels(output["route"], str(output["grounded"]).lower()).inc()
    if output["route"] == "course" and not output["grounded"]:
        REFUSALS.inc()


class LLMTimer(BaseCallbackHandler):
    """Times every chat-model call of the graph; server/app.py gives it to MentorRunnable, which adds it to each
    request's callbacks."""

    run_inline = True  # a dict write and a histogram observation: not worth a thread hop

    def __init__(self) -> None:
        self._started: dict[UUID, tuple[float, str]] = {}

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Start the clock for this call, remembering the graph node that made it."""
        node = str((kwargs.get("metadata") or {}).get("langgraph_node") or "other")
        self._started[run_id] = (time.perf_counter(), node)

    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        """Record a finished call."""
        self._observe(run_id, "ok")

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        """Record a failed call."""
        self._observe(run_id, "error")

    def _observe(self, run_id: UUID, outcome: str) -> None:
        started = self._started.pop(run_id, None)
        if started:
            LLM_SECONDS.labels(started[1], outcome).observe(time.perf_counter() - started[0])


LLM_TIMER = LLMTimer()


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (until the last byte of a stream)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP: count and time; lifespan: tidy this worker's multiprocess files."""
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or UNROUTED
            REQUESTS.labels(route, scope["method"], str(status)).inc()
            LATENCY.labels(route, scope["method"]).observe(time.perf_counter() - started)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = _multiproc_dir()
        if path:
            _forget_dead_workers(path)
        try:
            await self.app(scope, receive, send)
        finally:
            if path:
                multiprocess.mark_process_dead(os.getpid(), path)


async def metrics_endpoint(request: Request) -> Response:
    """GET /metrics: this process' metrics, or every worker's when they share PROMETHEUS_MULTIPROC_DIR."""
    path = _multiproc_dir()
    registry = REGISTRY
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """GET /metrics and the request counter (added last, so it also sees requests the API key refuses)."""
    app.add_api_route("/metrics", metrics_endpoint, methods=["GET"], tags=["status"], include_in_schema=True)
    app.add_middleware(MetricsMiddleware)
