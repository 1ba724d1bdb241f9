"""Past one machine: two API replicas on two ports sharing a Milvus server and PostgreSQL, for real.

Started here: PostgreSQL (Debian's package, initdb in a temporary folder, free port), the Milvus 2.3
server embedded in the PyPI package `milvus`, the shared llama.cpp server, and the API processes. Proves
that ingest through one replica is visible through the other at once, that a conversation continues on
whichever replica a request lands on, that kill -9 of one replica mid-answer costs nothing but a client
retry on the other, that everything survives a restart, that /metrics sums several workers behind the
API key, and that losing PostgreSQL mid-request answers 503 and recovers by itself.

The tests run in file order and share the servers (each step builds on the state the previous one left).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.servers import ApiServer, Deployment, LLMServer, MilvusServer, PostgresServer, base_env, free_port
from server.chat import INGEST_HINT
from tests.conftest import COURSE, PROJECT_ROOT
from tests.integration.conftest import start_milvus_server

pytestmark = pytest.mark.integration
TIMEOUT = httpx.Timeout(300, connect=5)
KEY = "replica-key-7c1e"
COLLECTION = "replicas"
NEW_FILE = "week07/frozensets.md"
NEW_TEXT = (
    "# Frozen sets\n\nA frozenset is an immutable set: frozenset({1, 2, 3}). Unlike a set it has no add() or "
    "remove(); because it is hashable, a frozenset can be a dictionary key or an element of another set.\n"
)
TRACE_MARKERS = ("Traceback", 'File "/', "site-packages")
CONVERSATIONS: dict[str, str] = {}  # ids the replicas issued, continued by later tests (after a restart)


@dataclass
class Cluster:
    """The shared state servers and the environment every replica gets."""

    root: Path
    course: Path
    postgres: PostgresServer
    milvus: MilvusServer
    llm: LLMServer

    def env(self, **extra: str) -> dict[str, str]:
        return base_env(
            MILVUS_URI=self.milvus.url,
            MILVUS_COLLECTION_NAME=COLLECTION,
            CHECKPOINT_URI=self.postgres.url,
            RECORD_MANAGER_URL=self.postgres.url,
            LLM_BASE_URL=self.llm.url,
            LLM_TIMEOUT="60",
            LLM_MAX_TOKENS="96",  # what is checked is where answers come from, not their length: keep them short
            ANSWER_STYLE="generative",  # an answer that streams for a while, so a replica can die mid-answer
            INGEST_ROOTS=json.dumps([str(self.root)]),
            # shared state needs a shared secret: an id issued by A is continued on B, a link A signs opens on B
            MENTOR_SECRET="replicas-share-this-secret",
            **extra,
        )

    def replica(self, name: str, **extra: str) -> ApiServer:
        port = free_port()
        env = self.env(API_PORT=str(port), **extra)
        return ApiServer(f"http://127.0.0.1:{port}", Deployment(self.root, env), port, self.root / f"{name}.log")


@pytest.fixture(scope="module")
def cluster(postgres, llm_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("replicas")
    course = root / "course"
    (course / "week03").mkdir(parents=True)
    src = COURSE / "week03" / "lists_and_comprehensions.md"
    (course / "week03" / src.name).write_text(src.read_text())
    milvus = start_milvus_server(root / "milvus")
    try:
        yield Cluster(root, course, postgres, milvus, llm_server)
    finally:
        milvus.stop()


@pytest.fixture(scope="module")
def replicas(cluster: Cluster) -> Iterator[dict[str, ApiServer]]:
    servers = {"a": cluster.replica("a"), "b": cluster.replica("b")}
    with ThreadPoolExecutor(2) as pool:  # both load the embedding model at once: half the wait
        list(pool.map(ApiServer.start, servers.values()))
    try:
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def chat(url: str, message: str, conversation_id: str | None = None, headers: dict | None = None) -> httpx.Response:
    body = {"message": message, **({"conversation_id": conversation_id} if conversation_id else {})}
    return httpx.post(f"{url}/api/chat", json=body, timeout=TIMEOUT, headers=headers)


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, (response.status_code, response.text[:2000])
    return response.json()


# ---- bad settings at startup: a clear error naming the setting, within seconds --------------------
def _start_fails(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "server", "--port", str(free_port())], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert not any(marker in result.stderr for marker in TRACE_MARKERS), result.stderr[-2000:]
    return result.stderr


def test_unreachable_state_at_startup_names_the_setting(tmp_path):
    closed = free_port()  # nothing listens there
    lite = str(tmp_path / "db" / "mentor.db")
    err = _start_fails(base_env(MILVUS_URI=f"http://127.0.0.1:{closed}"))
    assert f"MILVUS_URI=http://127.0.0.1:{closed} is unreachable" in err, err
    secret = "pw-not-shown"
    err = _start_fails(base_env(MILVUS_URI=lite, CHECKPOINT_URI=f"postgresql://u:{secret}@127.0.0.1:{closed}/db"))
    assert f"CHECKPOINT_URI=postgresql://u:***@127.0.0.1:{closed}/db is unreachable" in err and secret not in err
    err = _start_fails(base_env(MILVUS_URI=lite, RECORD_MANAGER_URL=f"postgresql://u@127.0.0.1:{closed}/db"))
    assert "RECORD_MANAGER_URL=" in err, err
    err = _start_fails(base_env(MILVUS_URI=lite, API_WORKERS="2"))
    assert "API_WORKERS=2" in err and f"MILVUS_URI={lite} is a Milvus Lite file" in err, err


# ---- two replicas, one state ----------------------------------------------------------------------
# a replica waiting for the checkpoint schema lock: blocked inside pg_advisory_lock, or polling (core/checkpoints.py)
WAITERS = """SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)
                + (SELECT count(*) FROM pg_stat_activity
                   WHERE pid <> pg_backend_pid() AND query LIKE '%pg_try_advisory_lock(%) AS held%')"""


def test_a_replica_waiting_for_the_checkpoint_schema_holds_up_no_index_build(cluster):
    """A replica waiting for another's schema set-up must hold no snapshot: LangGraph's migrations build indexes
    CONCURRENTLY, which wait for every older snapshot. Blocked inside pg_advisory_lock, two replicas started
    together on a new database waited on each other until PostgreSQL was stopped (a fresh-clone CI run)."""
    import psycopg

    from core.checkpoints import CHECKPOINT_SETUP_LOCK
    from core.sql import libpq_url, lock_key

    url, key = libpq_url(cluster.postgres.url), lock_key(CHECKPOINT_SETUP_LOCK)
    waiting = cluster.replica("waiting")
    with psycopg.connect(url, autocommit=True) as holder, psycopg.connect(url, autocommit=True) as builder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))  # another replica is setting the schema up
        builder.execute("CREATE TABLE IF NOT EXISTS lock_probe (x int)")
        starting = threading.Thread(target=waiting.start)  # returns once the replica is ready
        starting.start()
        try:
            deadline = time.monotonic() + 120
            while not holder.execute(WAITERS).fetchone()[0]:  # type: ignore[index]
                assert starting.is_alive() and time.monotonic() < deadline, "the replica never waited for the lock"
                time.sleep(0.2)
            time.sleep(1)
            builder.execute("SET statement_timeout = '20s'")  # held up by the waiter: QueryCanceled, the test fails
            builder.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS lock_probe_x ON lock_probe (x)")
        finally:
            holder.execute("SELECT pg_advisory_unlock(%s)", (key,))
            starting.join(150)
            builder.execute("DROP TABLE IF EXISTS lock_probe")
    try:
        assert waiting.proc and waiting.proc.poll() is None, waiting.log.read_text()[-2000:]
        assert httpx.get(f"{waiting.url}/health", timeout=30).status_code == 200  # it set the schema up after
    finally:
        waiting.stop()


def test_ingest_through_a_is_visible_through_b_at_once(cluster, replicas):
    a, b = replicas["a"], replicas["b"]
    empty = chat(b.url, "What is a frozenset?")
    assert empty.status_code == 503 and empty.json()["detail"] == INGEST_HINT

    (cluster.course / NEW_FILE).parent.mkdir(parents=True)
    (cluster.course / NEW_FILE).write_text(NEW_TEXT)
    report = ok(httpx.post(f"{a.url}/api/ingest", json={"directory": str(cluster.course)}, timeout=TIMEOUT))
    assert report["summary"]["added"] == 2 and report["exit_code"] == 0, report

    # B knows what A ingested: the manifest and the records live in PostgreSQL, not on A's disk
    again = ok(httpx.post(f"{b.url}/api/ingest", json={"directory": str(cluster.course)}, timeout=TIMEOUT))
    assert again["summary"]["unchanged"] == 2 and again["chunks_written"] == 0, again

    answer = ok(chat(b.url, "What is a frozenset?"))
    assert answer["sources"] and answer["sources"][0]["source"] == NEW_FILE, answer["sources"]
    stats = [ok(httpx.get(f"{url}/api/chat/stats", timeout=30)) for url in (a.url, b.url)]
    assert stats[0]["chunk_count"] == stats[1]["chunk_count"] > 0
    assert stats[0]["retrieval_mode"] == "dense"  # Milvus 2.3: no built-in BM25, the one-warning fallback


def invoke(url: str, question: str, conversation_id: str, headers: dict | None = None) -> dict:
    """/mentor/invoke: its output says how many turns the conversation has."""
    body = {"input": {"question": question, "conversation_id": conversation_id}}
    return ok(httpx.post(f"{url}/mentor/invoke", json=body, timeout=TIMEOUT, headers=headers))["output"]


def test_a_conversation_continues_on_the_other_replica(replicas):
    a, b = replicas["a"], replicas["b"]
    first = ok(chat(a.url, "What is a list comprehension?"))
    conversation = CONVERSATIONS["ab"] = first["conversation_id"]  # issued by A, signed with the shared secret
    second = invoke(b.url, "How do I keep only the even numbers in one?", conversation)
    assert second["conversation_id"] == conversation and second["turns"] == 2  # A's turn and B's


def test_kill_9_of_a_mid_answer_b_keeps_answering_and_a_retry_on_b_completes(replicas):
    a, b = replicas["a"], replicas["b"]
    question = "Can a list comprehension use two for clauses?"
    killed = threading.Event()
    pool = ThreadPoolExecutor(1)
    issued = httpx.post(f"{a.url}/api/conversations", json={}, timeout=TIMEOUT)
    assert issued.status_code == 201, issued.text  # Created: the server issues the id
    conversation = issued.json()["conversation_id"]
    with httpx.stream("POST", f"{a.url}/api/chat/stream", json={"message": question, "conversation_id": conversation},
                      timeout=TIMEOUT) as response:  # fmt: skip
        assert response.status_code == 200
        with pytest.raises(httpx.HTTPError):  # the stream breaks off when A dies
            for line in response.iter_lines():
                if line.startswith("event: token") and not killed.is_set():
                    # A is writing the answer (route, retrieve, grade are checkpointed): another student asks
                    # B, then A dies.
                    other = pool.submit(chat, b.url, "What is a frozenset?")
                    assert a.proc is not None
                    os.kill(a.proc.pid, signal.SIGKILL)
                    killed.set()
    assert killed.is_set(), "A finished before a token was streamed"
    a.proc.wait(10)  # type: ignore[union-attr]

    assert ok(other.result(timeout=300))["sources"][0]["source"] == NEW_FILE  # B kept answering
    pool.shutdown()
    retry = invoke(b.url, question, conversation)  # the client retries on B
    assert retry["route"] == "course" and retry["answer"].strip()
    # B finished the turn A left half done, from its checkpoints: it counts once, not twice
    assert retry["turns"] == 1


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_restart_everything_keeps_conversations_and_collection(cluster, replicas):
    b = replicas["b"]
    chunks = ok(httpx.get(f"{b.url}/api/chat/stats", timeout=30))["chunk_count"]
    b.stop()
    cluster.milvus.stop()
    cluster.postgres.stop("fast")

    cluster.postgres.start()
    cluster.milvus.start()
    # one replica with two uvicorn workers now, and an API key: /metrics is checked below
    restarted = cluster.replica("a2", API_WORKERS="2", MENTOR_API_KEY=KEY)
    restarted.extra_env = {"MENTOR_API_KEY": KEY}
    replicas["a2"] = restarted
    restarted.start()
    headers = {"X-API-Key": KEY}
    assert ok(httpx.get(f"{restarted.url}/api/chat/stats", headers=headers, timeout=30))["chunk_count"] == chunks
    assert invoke(restarted.url, "hello again!", CONVERSATIONS["ab"], headers)["turns"] == 3


def test_metrics_sum_every_worker_behind_the_api_key(replicas):
    server = replicas["a2"]
    assert httpx.get(f"{server.url}/metrics", timeout=30).status_code == 401
    headers = {"X-API-Key": KEY}
    before = _metric(ok_text(server.url, headers), "mentor_http_requests_total", route="/health", status="200")
    n = 12
    with ThreadPoolExecutor(4) as pool:  # concurrent, so both workers take some
        codes = list(pool.map(lambda _: httpx.get(f"{server.url}/health", headers=headers, timeout=30).status_code,
                              range(n)))  # fmt: skip
    assert codes == [200] * n
    for _ in range(4):  # whichever worker answers the scrape, it reports both workers' requests
        text = ok_text(server.url, headers)
        assert _metric(text, "mentor_http_requests_total", route="/health", status="200") == before + n
    for name in ("mentor_llm_seconds_count", "mentor_answers_total", "mentor_queue_depth"):
        assert name in text, name
    assert _metric(text, "mentor_http_requests_total", route="/api/chat/stats", status="200") >= 1
    assert _metric(text, "mentor_llm_seconds_count", node="respond", outcome="ok") >= 1  # "hello again!" above


def ok_text(url: str, headers: dict) -> str:
    response = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


def test_losing_postgres_mid_request_answers_503_then_recovers(cluster, replicas):
    server, headers = replicas["a2"], {"X-API-Key": KEY}
    events: list[tuple[str, str]] = []
    stopped = False
    issued = httpx.post(f"{server.url}/api/conversations", json={}, headers=headers, timeout=30)
    assert issued.status_code == 201, issued.text
    conversation = issued.json()["conversation_id"]
    body = {"message": "What is a list comprehension?", "conversation_id": conversation}
    with httpx.stream("POST", f"{server.url}/api/chat/stream", headers=headers, timeout=TIMEOUT, json=body) as response:
        event = "message"
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, line[5:].strip()))
                if event == "token" and not stopped:
                    cluster.postgres.stop("immediate")  # the database dies while the answer is written
                    stopped = True
    assert stopped, events
    assert events[-1][0] == "error", events[-3:]
    error = json.loads(events[-1][1])
    assert error["status"] == 503 and "CHECKPOINT_URI=" in error["detail"], error

    started = time.monotonic()
    down = chat(server.url, "What is a list comprehension?", conversation, headers)
    assert down.status_code == 503, down.text[:500]
    assert "CHECKPOINT_URI=" in down.json()["detail"] and time.monotonic() - started < 60
    assert not any(marker in down.text for marker in TRACE_MARKERS)

    cluster.postgres.start()
    deadline = time.monotonic() + 120
    while (response := chat(server.url, "What is a list comprehension?", conversation, headers)).status_code != 200:
        assert response.status_code == 503 and time.monotonic() < deadline, response.text[:500]
        time.sleep(2)
    for _ in range(3):  # every worker's pool has recovered, not just one
        ok(chat(server.url, "hello!", headers=headers))
