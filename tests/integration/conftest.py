"""Real servers for integration tests (started by harness/servers.py): the llama.cpp server with the packaged
model, the loader CLI ingesting into a temporary Milvus Lite file, and the API under a real uvicorn process."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from harness.servers import ApiServer, Deployment, LLMServer, MilvusServer, PostgresServer, postgres_bin_dir
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


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """PostgreSQL from Debian's package in a temporary cluster; missing only skips off CI."""
    bindir = postgres_bin_dir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: ./startup.sh test installs Debian's postgresql package")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; ./startup.sh test does)")
    server = PostgresServer.create(bindir)
    try:
        server.start()
        yield server
    finally:
        server.remove()


def start_milvus_server(base_dir: Path) -> MilvusServer:
    """The embedded Milvus 2.3 server, started (skips when the `milvus` package is missing)."""
    pytest.importorskip("milvus", reason="the `milvus` package (embedded Milvus 2.3 server) is not installed")
    server = MilvusServer(base_dir)
    server.start()
    return server


def keyed_server(llm_server: LLMServer, root: Path, key: str, admin_key: str = "") -> ApiServer:
    """A started API server with MENTOR_API_KEY (and ADMIN_API_KEY, when given) set, on its own database (one
    process per Milvus Lite file), still empty; root/course holds one lesson (week01/tuples.md) to ingest."""
    course = root / "course" / "week01"
    course.mkdir(parents=True)
    (course / "tuples.md").write_text(
        "# Tuples\n\nA tuple is an immutable sequence, written with parentheses: point = (3, 4). "
        "Tuples can be unpacked: x, y = point. Because they are immutable, tuples can be dictionary keys.\n"
    )
    server = ApiServer.on_free_port(Deployment.create(root, llm_server.url, LLM_TIMEOUT="60"), root / "api.log")
    server.extra_env = {"MENTOR_API_KEY": key, **({"ADMIN_API_KEY": admin_key} if admin_key else {})}
    server.start()
    return server


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    """Where the test browser saves downloads."""
    return tmp_path / "downloads"


@pytest.fixture
def browser(downloads: Path) -> Iterator[Any]:
    """Headless Chromium (harness/browser.py); skipped without it or selenium."""
    from harness.browser import BrowserMissing, chromium

    with ExitStack() as stack:
        try:
            driver = stack.enter_context(chromium(downloads))
        except BrowserMissing as missing:
            pytest.skip(str(missing))
        yield driver
