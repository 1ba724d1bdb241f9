"""Shared test setup: offline models, no stray .env, paths to the shared third-party fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
COURSE = PROJECT_ROOT / "course_materials"
SHARED = PROJECT_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Each test reads settings anew, so monkeypatched environment variables take effect."""
    from core.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def shared_fixtures() -> Path:
    path = SHARED / "fixtures"
    if not path.is_dir():
        pytest.skip(f"third-party fixtures not present at {path} (they live in the developers' shared/ folder)")
    return path
