"""Real servers for integration tests (started by harness/servers.py): the llama.cpp server with the packaged
model, the loader CLI ingesting into a temporary Milvus Lite file, and the API under a real uvicorn process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from harness.servers import ApiServer, Deployment, LLMServer
from tests.conftest import COURSE


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LLMServer]:
    server = LLMServer(tmp_path_factory.mktemp("llm") / "llm.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, llm_server: LLMServer) -> Deployment:
    dep = Deployment.create(tmp_path_factory.mktemp("deploy"), llm_server.url, LLM_TIMEOUT="60")
    result = dep.run_cli("--directory", str(COURSE), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)["summary"]
    assert summary["added"] == len([p for p in COURSE.rglob("*") if p.is_file()]) and summary["failed"] == 0
    return dep


@pytest.fixture(scope="session")
def api(deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = ApiServer.on_free_port(deployment, tmp_path_factory.mktemp("api") / "api.log")
    server.start()
    yield server
    server.stop()
