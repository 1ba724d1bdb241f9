"""State behind URL settings: parsing, the old setting name, the manifest on SQLAlchemy, startup refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from core.sql import engine_for, is_postgres, libpq_url, redact, sqlalchemy_url
from loaders.manifest import FileEntry, Manifest
from server import preflight


def test_urls_for_each_driver(tmp_path):
    assert sqlalchemy_url("postgresql://u:p@h:5432/db") == "postgresql+psycopg://u:p@h:5432/db"
    assert sqlalchemy_url("postgres://h/db") == "postgresql+psycopg://h/db"
    assert sqlalchemy_url(str(tmp_path / "r.sqlite")) == f"sqlite:///{tmp_path / 'r.sqlite'}"
    assert sqlalchemy_url("./milvus_data/x.sqlite") == f"sqlite:///{PROJECT_ROOT / 'milvus_data' / 'x.sqlite'}"
    assert libpq_url("postgresql+psycopg://u@h/db") == "postgresql://u@h/db"
    assert is_postgres("postgresql+psycopg://h/db") and not is_postgres("./conversations.sqlite")


def test_passwords_never_reach_a_message():
    assert redact("postgresql://mentor:s3cret@db:5432/mentor") == "postgresql://mentor:***@db:5432/mentor"
    assert redact("./milvus_data/conversations.sqlite") == "./milvus_data/conversations.sqlite"


def test_checkpoint_uri_and_its_old_name(monkeypatch):
    assert Settings(_env_file=None).checkpoint_uri == "./milvus_data/conversations.sqlite"
    monkeypatch.setenv("CHECKPOINT_DB", "/data/old.sqlite")
    assert Settings(_env_file=None).checkpoint_uri == "/data/old.sqlite"
    monkeypatch.setenv("CHECKPOINT_URI", "postgresql://h/db")
    assert Settings(_env_file=None).checkpoint_uri == "postgresql://h/db"  # the new name wins


def test_record_manager_defaults_to_sqlite_beside_the_database(tmp_path):
    s = Settings(_env_file=None, milvus_uri=str(tmp_path / "db" / "m.db"))
    assert s.record_manager_db == str(tmp_path / "db" / "ingest_records.sqlite")
    assert Settings(_env_file=None, record_manager_url="postgresql://h/db").record_manager_db == "postgresql://h/db"


def test_manifest_round_trip_and_reads_the_old_sqlite_table(tmp_path):
    db = tmp_path / "records.sqlite"
    with sqlite3.connect(db) as conn:  # the table as the SQLite-only manifest created it
        conn.execute(
            "CREATE TABLE ingested_files (namespace TEXT NOT NULL, root TEXT NOT NULL, file_id TEXT NOT NULL,"
            " source TEXT NOT NULL, fingerprint TEXT NOT NULL, chunks INTEGER NOT NULL,"
            " updated_at REAL NOT NULL, PRIMARY KEY (namespace, file_id))"
        )
        conn.execute("INSERT INTO ingested_files VALUES ('ns', '/c', '/c/a.md', 'a.md', 'f1', 3, 0)")
    manifest = Manifest(engine_for(str(db)), "ns")
    assert manifest.entries("/c") == {"/c/a.md": FileEntry("/c/a.md", "a.md", "f1", 3)}
    manifest.record("/c", FileEntry("/c/a.md", "a.md", "f2", 4))  # replaced, not duplicated
    manifest.record("/c", FileEntry("/c/b.md", "b.md", "f3", 1))
    assert manifest.total_entries() == 2 and manifest.entries("/c")["/c/a.md"].fingerprint == "f2"
    other = Manifest(engine_for(str(db)), "other-collection")
    assert other.total_entries() == 0
    manifest.forget("/c/b.md")
    assert list(manifest.entries("/c")) == ["/c/a.md"]
    manifest.clear()
    assert manifest.total_entries() == 0


def test_several_processes_on_milvus_lite_are_refused(tmp_path: Path):
    s = Settings(_env_file=None, milvus_uri=str(tmp_path / "m.db"), api_workers=2)
    with pytest.raises(preflight.PreflightError, match=r"API_WORKERS=2 .*MILVUS_URI=.* is a Milvus Lite file"):
        preflight.check(s, processes=2)
    preflight.check(s.model_copy(update={"api_workers": 1}), processes=1)  # one process: fine


def test_answers_and_refusals_are_counted():
    from prometheus_client import REGISTRY

    from server import metrics

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    refusals, answers = value("mentor_refusals_total"), value("mentor_answers_total", route="course", grounded="true")
    metrics.count_answer({"route": "course", "grounded": True})
    metrics.count_answer({"route": "course", "grounded": False})
    metrics.count_answer({"route": "chat", "grounded": False})  # small talk is no refusal
    assert value("mentor_refusals_total") == refusals + 1
    assert value("mentor_answers_total", route="course", grounded="true") == answers + 1
