"""`langgraph dev` (LangGraph Studio's in-memory runtime) serves the same graph from langgraph.json."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.servers import Deployment, base_env, free_port, stop, wait_http
from tests.conftest import COURSE, PROJECT_ROOT

pytestmark = pytest.mark.integration
STUDIO_VENV = Path(os.environ.get("MENTOR_STUDIO_VENV") or PROJECT_ROOT / ".venv-studio")  # set by startup.sh
STUDIO_BIN = STUDIO_VENV / "bin" / "langgraph"
STUDIO_LOCK = Path(os.environ.get("MENTOR_LOCK_DIR") or PROJECT_ROOT / "requirements") / "studio.lock"


def test_the_studio_environment_is_exactly_its_lock():
    if not STUDIO_BIN.exists():
        pytest.fail("the studio environment is missing: ./startup.sh test creates it (install_studio)")
    check = [str(STUDIO_VENV / "bin" / "python"), "-m", "deploy.lock", "check", "--lock", str(STUDIO_LOCK)]
    result = subprocess.run(check, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def studio(llm_server, tmp_path):
    if not STUDIO_BIN.exists():
        pytest.fail("the studio environment is missing: ./startup.sh test creates it (install_studio)")
    course = tmp_path / "course"
    shutil.copytree(COURSE / "week03", course / "week03")
    env = base_env(MILVUS_URI=str(tmp_path / "db" / "mentor.db"), LLM_BASE_URL=llm_server.url,
                   CHECKPOINT_DB=str(tmp_path / "conv.sqlite"))  # fmt: skip
    result = Deployment(tmp_path, env).run_cli("--directory", str(course), "--quiet")
    assert result.returncode == 0, result.stderr[-2000:]
    port = free_port()
    proc = subprocess.Popen(
        [str(STUDIO_BIN), "dev", "--no-browser", "--no-reload", "--host", "127.0.0.1", "--port", str(port)],
        cwd=PROJECT_ROOT, env=env, stdout=open(tmp_path / "studio.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/ok", proc, 180)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_langgraph_dev_serves_and_answers(studio):
    assistants = httpx.post(f"{studio}/assistants/search", json={"graph_id": "mentor"}, timeout=30).json()
    assert assistants and assistants[0]["graph_id"] == "mentor"
    response = httpx.post(
        f"{studio}/runs/wait",
        json={"assistant_id": "mentor", "input": {"question": "What is a generator expression?"}},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    output = response.json()
    assert output["grounded"] and output["answer"]
    assert output["sources"][0]["source"] == "week03/generators.ipynb"
