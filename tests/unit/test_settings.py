from pathlib import Path

import pytest
from pydantic import ValidationError

from core.settings import PROJECT_ROOT, Settings


def test_defaults_match_the_original_app():
    s = Settings(_env_file=None)
    assert s.llm_base_url == "http://127.0.0.1:8080/v1"
    assert s.milvus_collection_name == "course_materials"
    assert (s.chunk_size, s.chunk_overlap, s.top_k_retrieval, s.draft_notes) == (512, 50, 5, 3)


def test_relative_milvus_uri_is_anchored_at_the_project_root(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = Settings(_env_file=None)
    assert Path(s.milvus_connection_uri) == PROJECT_ROOT / "milvus_data" / "ai_mentor.db"
    assert s.milvus_is_local


def test_server_uri_is_left_alone():
    s = Settings(_env_file=None, milvus_uri="http://127.0.0.1:19530")
    assert not s.milvus_is_local
    assert s.milvus_connection_uri == "http://127.0.0.1:19530"


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("TOP_K_RETRIEVAL", "7")
    monkeypatch.setenv("LLM_MERGE_SYSTEM", "")
    s = Settings(_env_file=None)
    assert s.top_k_retrieval == 7
    assert s.llm_merge_system is None


def test_overlap_must_be_smaller_than_size():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, chunk_size=100, chunk_overlap=100)


@pytest.mark.parametrize(("fmt", "merged"), [("chatml", False), ("mistral-instruct", True)])
def test_system_prompt_is_merged_only_for_formats_that_drop_it(fmt, merged):
    assert Settings(_env_file=None, llm_chat_format=fmt).merge_system_prompt is merged


def test_env_example_lists_every_setting():
    text = (PROJECT_ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"{name.upper()}=" in text, name
