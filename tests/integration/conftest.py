"""Real servers for integration tests: the llama.cpp server with the packaged model, the loader CLI
ingesting into a temporary Milvus Lite file, and the API under a real uvicorn process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import COURSE, PROJECT_ROOT

pytestmark = pytest.mark.integration
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen, seconds: float, headers: dict | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2, headers=headers).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds}s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "MILVUS_", "API_", "MENTOR_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


@dataclass
class LLMServer:
    url: str  # OpenAI base URL, …/v1
    port: int
    proc: subprocess.Popen
    log: Path

    def start(self) -> None:
        from core.factories import packaged_model_path

        cmd = [PY, "-m", "llama_cpp.server", "--model", str(packaged_model_path()), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", "4096", "--n_threads", "2", "--chat_format", "chatml",
               "--model_alias", "smollm2-135m-instruct", "--interrupt_requests", "False"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, env=base_env())  # noqa: SIM115 (the log stays open for the process)
        wait_http(self.url + "/models", self.proc, 120)

    def stop(self) -> None:
        stop(self.proc)


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    port = free_port()
    server = LLMServer(f"http://127.0.0.1:{port}/v1", port, None, tmp_path_factory.mktemp("llm") / "llm.log")  # type: ignore[arg-type]
    server.start()
    yield server
    server.stop()


@dataclass
class Deployment:
    """Everything one API process needs: its database, its conversations and its environment."""

    root: Path
    env: dict[str, str]

    def run_cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([PY, "-m", "loaders", *args], env=self.env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServer) -> Deployment:
    root = tmp_path_factory.mktemp("deploy")
    env = base_env(
        MILVUS_URI=str(root / "db" / "mentor.db"),
        CHECKPOINT_DB=str(root / "conversations.sqlite"),
        LLM_BASE_URL=llm_server.url,
        LLM_TIMEOUT="60",
        INGEST_ROOTS=json.dumps([str(PROJECT_ROOT), str(root)]),
    )
    dep = Deployment(root, env)
    result = dep.run_cli("--directory", str(COURSE), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["added"] == len([p for p in COURSE.rglob("*") if p.is_file()]) and summary["failed"] == 0
    return dep


@dataclass
class ApiServer:
    url: str
    deployment: Deployment
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    extra_env: dict[str, str] | None = None

    def start(self) -> None:
        env = {**self.deployment.env, **(self.extra_env or {})}
        self.proc = subprocess.Popen(
            [PY, "-m", "server", "--port", str(self.port), "--log-level", "warning"],
            cwd=PROJECT_ROOT, env=env, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
        )  # fmt: skip
        key = (self.extra_env or {}).get("MENTOR_API_KEY")
        wait_http(self.url + "/", self.proc, 120, headers={"X-API-Key": key} if key else None)

    def stop(self) -> None:
        if self.proc:
            stop(self.proc)


@pytest.fixture(scope="session")
def api(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    port = free_port()
    deployment.env["API_PORT"] = str(port)  # the CLI finds the running server through it
    server = ApiServer(f"http://127.0.0.1:{port}", deployment, port, tmp_path_factory.mktemp("api") / "api.log")
    server.start()
    yield server
    server.stop()
