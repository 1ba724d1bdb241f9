"""Unit-test fixtures: a server secret that never touches the project's data folder, and the whole app
in-process with a scripted chat model and a fake store at the factory seam."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage

from core import factories
from core.settings import get_settings
from core.sql import engine_for
from loaders.ingest import namespace_for
from loaders.manifest import FileEntry, Manifest
from tests.conftest import COURSE
from tests.unit.test_graph import BagOfWords, FakeStore, ScriptedChat, hit


@pytest.fixture(autouse=True)
def _fresh_stream_exit_event():
    """sse-starlette keeps one exit Event for the process, bound to the first event loop that streamed; each
    TestClient runs its own loop, so a second test's stream failed with "bound to a different event loop"."""
    from sse_starlette.sse import AppStatus

    AppStatus.should_exit_event = None
    yield
    AppStatus.should_exit_event = None


@pytest.fixture(autouse=True)
def _server_secret(monkeypatch):
    """Signed ids and links need the server's secret: given, so no test writes one into milvus_data/."""
    monkeypatch.setenv("MENTOR_SECRET", "unit-test-secret")


class Store(FakeStore):
    def warm_up(self) -> None:
        pass


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A course folder with the files a citation can open, and records of files it must not open."""
    root = tmp_path / "course"
    for name in ("week02/loops_handout.pdf", "week03/generators.ipynb", "week04/functions.html"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(COURSE / name, root / name)
    (root / "week04" / "evil.html").write_text(
        "<html><head><title>Evil</title><script>window.pwned = 1</script></head><body>"
        '<h2 id="topic">Zebras</h2><p onclick="window.pwned = 3">Zebras migrate.</p>'
        '<img src="x" onerror="window.pwned = 2"><a href="javascript:alert(1)">x</a></body></html>'
    )
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nnot course material\n")
    (root / "week01").mkdir()
    (root / "week01" / "link.md").symlink_to(outside)
    (root / "week01" / "gone.md").write_text("# Gone\n")
    return root


def record_files(root: Path, *sources: str) -> None:
    manifest = Manifest(engine_for(get_settings().record_manager_db), namespace_for(get_settings()))
    for source in sources:
        manifest.record(str(root), FileEntry(str(root / source), source, "fp", 1))


@pytest.fixture
def make_client(monkeypatch, tmp_path: Path, course: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(replies: list[str] | None = None, **env: str) -> TestClient:
        monkeypatch.setenv("MILVUS_URI", str(tmp_path / "db" / "mentor.db"))
        monkeypatch.setenv("CHECKPOINT_DB", str(tmp_path / "conversations.sqlite"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        llm = ScriptedChat(messages=iter(AIMessage(r) for r in replies or []), prompts=[])
        notes = [hit(2, 0.9, "A list holds items in order. Lists hold items."), hit(3, 0.8, "Generators yield values.")]
        store = Store([notes])
        monkeypatch.setattr(factories, "get_llm", lambda *a, **k: llm)
        monkeypatch.setattr(factories, "shared_store", lambda: store)
        monkeypatch.setattr(factories, "get_embeddings", lambda *a, **k: BagOfWords())
        record_files(course, "week02/loops_handout.pdf", "week03/generators.ipynb", "week04/functions.html",
                "week04/evil.html", "week01/link.md", "week01/gone.md")  # fmt: skip
        (course / "week01" / "gone.md").unlink(missing_ok=True)
        from server.app import create_app

        client = TestClient(create_app(), follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[object]:
    """A real interaction log in a SQLite file, started and closed (the instructor tests read what it records)."""
    from classroom.interactions import InteractionLog

    interactions = InteractionLog(f"sqlite:///{tmp_path / 'log.sqlite'}", salt=b"s" * 32)
    interactions.start()
    yield interactions
    interactions.close()
