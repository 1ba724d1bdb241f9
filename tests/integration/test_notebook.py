"""examples/notebook.ipynb runs top to bottom against the running test API (RemoteRunnable over HTTP)."""

from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration
NOTEBOOK = PROJECT_ROOT / "examples" / "notebook.ipynb"


def test_notebook_runs_against_the_api(api, monkeypatch):
    monkeypatch.setenv("MENTOR_URL", f"{api.url}/mentor")  # the kernel inherits this process' environment
    monkeypatch.delenv("MENTOR_API_KEY", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(PROJECT_ROOT)}}
    ).execute()

    outputs = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
        outputs.extend(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    text = "".join(outputs)
    assert f"Using {api.url}/mentor" in text, "the notebook must read MENTOR_URL"
    answers = [line.split("ANSWER:", 1)[1].strip() for line in text.splitlines() if "ANSWER:" in line]
    assert len(answers) >= 4 and all(answers), text[-3000:]
    assert "tokens streamed" in text and "turns: 2" in text, text[-3000:]
    assert os.environ["MENTOR_URL"].startswith("http://127.0.0.1:")
