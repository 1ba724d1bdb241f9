"""The same store code against a real Milvus *server* (MILVUS_URI=http://host:port), not Milvus Lite.

Why: users may point the tutor at an existing Milvus. A 2.3/2.4 server has no built-in BM25, so the store
must create a dense-only collection, search it, and turn hybrid requests into dense ones with a single
warning instead of crashing. The PyPI package `milvus` (2.3.x) embeds such a server.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import COURSE
from tests.integration.conftest import start_milvus_server

pytestmark = pytest.mark.integration

FILES = ["week01/variables_and_types.md", "week03/lists_and_comprehensions.md", "week04/functions.html"]


@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_milvus_server(tmp_path_factory.mktemp("milvus23"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(COURSE / rel, root / rel)
    return root


def test_dense_fallback_on_milvus_23(milvus_server, course, tmp_path, monkeypatch, caplog):
    import core.store
    from core.factories import get_store
    from core.settings import Settings
    from core.store import SPARSE_FIELD
    from loaders.ingest import ingest_directory

    # Ingest records for a server live under milvus_data/ of the project: keep them in the test's folder.
    monkeypatch.setattr(Settings, "data_dir", property(lambda self: tmp_path / "data"))
    monkeypatch.setattr(core.store, "_WARNED", set())
    settings = Settings(
        _env_file=None, milvus_uri=milvus_server, milvus_collection_name="server_test", retrieval_mode="hybrid"
    )
    caplog.set_level(logging.WARNING, logger="core.store")

    report = ingest_directory(course, settings=settings)
    assert report.summary()["added"] == len(FILES) and report.exit_code == 0, report.to_dict()

    store = get_store(settings)
    try:
        assert store.server_version.lstrip("v").startswith("2.3"), store.server_version
        assert not store.bm25_available
        fields = [f["name"] for f in store.client.describe_collection("server_test")["fields"]]
        assert SPARSE_FIELD not in fields, fields
        assert store.count() == sum(f.chunks for f in report.files)

        dense = store.search("How do list comprehensions work?", 3, mode="dense", floor=-1.0)
        assert dense and dense[0].metadata["source"] == "week03/lists_and_comprehensions.md"
        assert all(-1.0 <= h.cosine <= 1.0 for h in dense)
        hybrid = store.search("How do list comprehensions work?", 3, mode="hybrid", floor=-1.0)
        assert [h.id for h in hybrid] == [h.id for h in dense]
        assert store.search("default argument values", 3, mode="bm25", floor=-1.0)
        hits = store.search("defining a function with def", 3, module="week04", floor=-1.0)
        assert hits and {h.metadata["module"] for h in hits} == {"week04"}
    finally:
        store.close()

    warnings = [r.getMessage() for r in caplog.records if "falling back to dense" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "has no built-in BM25" in warnings[0]
