"""Ingestion of real third-party course material (../shared/fixtures) into real Milvus Lite files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from pypdf import PdfReader

from core.factories import get_store
from core.settings import Settings
from core.store import CourseStore
from harness.servers import base_env
from loaders.ingest import ingest_directory
from tests.conftest import PROJECT_ROOT, shared_fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A private copy of the shared fixtures, so tests may edit and delete files."""
    target = tmp_path_factory.mktemp("corpus") / "course"
    shutil.copytree(shared_fixtures(), target)
    return target


@pytest.fixture(scope="module")
def settings(tmp_path_factory) -> Settings:
    root = tmp_path_factory.mktemp("ingestdb")
    return Settings(_env_file=None, milvus_uri=str(root / "db" / "mentor.db"))


@pytest.fixture(scope="module")
def store(settings) -> CourseStore:
    return get_store(settings)


@pytest.fixture(scope="module")
def first_run(corpus, settings, store):
    return ingest_directory(corpus, settings=settings, store=store)


def rows(store: CourseStore, source: str) -> list[dict]:
    return store.client.query(
        store.collection,
        filter=f"source == {json.dumps(source)}",
        output_fields=["pk", "page", "cell", "headings", "title", "module", "content_hash"],
        limit=10000,
    )


def test_every_fixture_is_ingested_with_citation_metadata(first_run, store, corpus):
    files = {f.source: f for f in first_run.files}
    assert first_run.count("failed") == 0, [f for f in first_run.files if f.status == "failed"]
    notebooks = [s for s in files if s.endswith(".ipynb")]
    lessons = [s for s in files if s.endswith(".md") and s.startswith("swc/") and "LICENSE" not in s]
    assert len(notebooks) == 15 and len(lessons) == 8
    assert {f.status for s, f in files.items() if s.endswith((".ipynb", ".md", ".pdf"))} == {"added"}
    assert files["whirlwind/LICENSE"].status == "skipped"  # no extension: listed, not ingested
    assert first_run.chunks_written == store.count() > 300

    pdf = "pdf/think-python-glossary-by-chapter.pdf"
    pages = {r["page"] for r in rows(store, pdf)}
    page_count = len(PdfReader(str(corpus / pdf)).pages)
    assert min(pages) == 1 and max(pages) <= page_count and len(pages) >= page_count - 1

    nb_rows = rows(store, "whirlwind/10-Iterators.ipynb")
    assert all(r["cell"] >= 1 for r in nb_rows) and len({r["cell"] for r in nb_rows}) > 5
    assert any("Iterators" in r["headings"] for r in nb_rows)
    assert {r["module"] for r in nb_rows} == {"whirlwind"}

    md_rows = rows(store, "swc/05-loop.md")
    assert md_rows and all(r["content_hash"] for r in md_rows)
    assert sum(files[s].chunks for s in files if files[s].status == "added") == store.count()


def test_a_chunk_reads_its_neighbours_in_the_same_section(first_run, store):
    source = "swc/04-lists.md"
    chunks = store.client.query(
        store.collection,
        filter=f"source == {json.dumps(source)}",
        output_fields=["text", "file_id", "seq", "headings"],
        limit=1000,
    )
    by_seq = {c["seq"]: c for c in chunks}
    assert sorted(by_seq) == list(range(len(chunks)))  # every chunk has its place in the file
    hits = [hit for hit in store.search("we cannot change individual characters in a string", 5, floor=-1.0)]
    middle = next(h for h in hits if h.metadata["source"] == source and 0 < h.metadata["seq"] < len(chunks) - 1)
    before, after = store.neighbours([middle.metadata])[0]
    seq, headings = middle.metadata["seq"], middle.metadata["headings"]
    assert before == (by_seq[seq - 1]["text"] if by_seq[seq - 1]["headings"] == headings else "")
    assert after == (by_seq[seq + 1]["text"] if by_seq[seq + 1]["headings"] == headings else "")
    assert before or after
    assert store.neighbours([{"source": "old.md", "file_id": "x"}]) == [("", "")]  # ingested before seq existed


def test_second_run_writes_nothing(first_run, corpus, settings, store):
    again = ingest_directory(corpus, settings=settings, store=store)
    assert again.chunks_written == 0 and again.chunks_deleted == 0
    assert again.count("unchanged") == first_run.count("added")
    assert store.count() == first_run.chunks_written


def test_changed_file_has_exactly_its_chunks_replaced(first_run, corpus, settings, store):
    before_total = store.count()
    lesson = corpus / "swc" / "07-cond.md"
    old = rows(store, "swc/07-cond.md")
    lesson.write_text(lesson.read_text() + "\n\n## Walrus\n\nThe expression `(n := len(a)) > 10` assigns and tests.\n")
    report = ingest_directory(corpus, settings=settings, store=store)
    status = {f.source: f for f in report.files}
    assert status["swc/07-cond.md"].status == "updated"
    assert [f.source for f in report.files if f.status in ("added", "updated", "deleted")] == ["swc/07-cond.md"]
    new = rows(store, "swc/07-cond.md")
    assert len(new) == status["swc/07-cond.md"].chunks
    assert len({r["pk"] for r in new}) == len(new), "no duplicates"
    assert store.count() == before_total - len(old) + len(new)
    assert any("Walrus" in r["headings"] for r in new)


def test_removed_file_is_deleted(corpus, settings, store):
    before = store.count()
    gone = rows(store, "whirlwind/12-Generators.ipynb")
    (corpus / "whirlwind" / "12-Generators.ipynb").unlink()
    report = ingest_directory(corpus, settings=settings, store=store)
    assert {f.source: f.status for f in report.files}["whirlwind/12-Generators.ipynb"] == "deleted"
    assert rows(store, "whirlwind/12-Generators.ipynb") == []
    assert store.count() == before - len(gone)


def test_bad_files_are_reported_and_lose_nothing(corpus, settings, store):
    before = store.count()
    bad = corpus / "bad"
    bad.mkdir()
    (bad / "corrupt.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(2000))
    (bad / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(500))
    (bad / "empty.txt").write_bytes(b"")
    (bad / "latin1.txt").write_bytes("Les boucles «for» parcourent une séquence; déjà vu.\n".encode("latin-1"))
    with open(bad / "huge.txt", "wb") as handle:
        handle.truncate(60 * 1024 * 1024)
    (bad / "loop").symlink_to(bad, target_is_directory=True)
    (bad / "dangling.md").symlink_to(bad / "missing.md")
    report = ingest_directory(corpus, settings=settings, store=store)
    reasons = {f.source: (f.status, f.reason) for f in report.files if f.source.startswith("bad/")}
    assert reasons["bad/corrupt.pdf"][0] == "failed" and "PDF" in reasons["bad/corrupt.pdf"][1]
    assert reasons["bad/image.md"] == ("failed", "binary content in a text file")
    assert reasons["bad/empty.txt"] == ("failed", "empty file")
    assert reasons["bad/huge.txt"][0] == "failed" and "too large" in reasons["bad/huge.txt"][1]
    assert reasons["bad/dangling.md"][0] == "failed" and "unreadable" in reasons["bad/dangling.md"][1]
    assert reasons["bad/latin1.txt"][0] == "added"
    assert any(status == "skipped" and reason == "symlink loop" for status, reason in reasons.values())
    assert report.exit_code == 1
    assert store.count() == before + len(rows(store, "bad/latin1.txt"))
    shutil.rmtree(bad)
    ingest_directory(corpus, settings=settings, store=store)
    assert store.count() == before


def test_dropped_collection_with_surviving_records_is_rebuilt(corpus, settings, store):
    expected = store.count()
    store.client.drop_collection(store.collection)  # the trap: records outlive the collection
    store.vs.col = None
    report = ingest_directory(corpus, settings=settings, store=store)
    assert report.count("unchanged") == 0 and store.count() == expected


def _record_count(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        try:
            return int(conn.execute("SELECT COUNT(*) FROM upsertion_record").fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_kill_minus_9_then_rerun_leaves_exactly_one_copy(tmp_path):
    corpus = tmp_path / "course"
    shutil.copytree(shared_fixtures() / "whirlwind", corpus / "whirlwind")
    db = tmp_path / "db" / "mentor.db"
    env = base_env(MILVUS_URI=str(db))
    cmd = [sys.executable, "-m", "loaders", "--directory", str(corpus), "--json", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = db.parent / "ingest_records.sqlite"
    deadline = time.monotonic() + 300
    while _record_count(records) < 50 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the loader finished before it could be killed; the corpus is too small"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rerun = subprocess.run(cmd, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]

    settings = Settings(_env_file=None, milvus_uri=str(db))
    store = get_store(settings)
    all_rows = store.client.query(store.collection, filter='pk != ""', output_fields=["pk", "source"], limit=16384)
    pks = Counter(r["pk"] for r in all_rows)
    assert max(pks.values()) == 1, "duplicate chunks after kill -9"
    assert _record_count(records) == len(pks), "records and chunks must match: no orphans either way"
    expected = sum(f["chunks"] for f in json.loads(rerun.stdout)["files"] if f["status"] in ("added", "unchanged"))
    assert len(pks) == expected
