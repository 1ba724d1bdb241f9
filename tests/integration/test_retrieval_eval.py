"""CI-sized retrieval benchmark: hybrid search must not rank gold documentation pages worse than dense.

Why: hybrid is the default retrieval mode because it finds more right passages than dense alone; this
guards that claim on real questions (every scorable DocPrompting-CoNaLa dev question) against the real
Python docs, with the project's own parser, chunker and store. The corpus is cut to the questions' gold
pages plus 60 distractor pages (about 8,000 chunks; ~5 min on 2 cores with a cold embedding cache).
Smaller question subsets proved too noisy to judge (one question moves Recall@5 by 1.7 points at 60
questions). The full benchmark, with every number, is `python -m bench.retrieval_eval`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT, SHARED

pytestmark = pytest.mark.integration

DOCS = Path("/usr/share/doc/python3.11/html")
QUESTIONS = SHARED / "eval" / "conala_dev.json"
N_DISTRACTORS = 60


def test_hybrid_is_not_worse_than_dense(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if not QUESTIONS.is_file():
        pytest.skip(f"benchmark questions not present at {QUESTIONS} (they live in the developers' shared/ folder)")
    if not (DOCS / "library" / "functions.html").is_file():
        pytest.skip(f"Python 3.11 HTML docs not found at {DOCS}: apt-get install python3.11-doc (./startup.sh test)")
    # Embeddings are keyed by text and model: reusing them across runs changes no number, only the time.
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    cache_dir = Path(str(cache.mkdir("retrieval_eval"))) if cache is not None else tmp_path / "cache"
    # The benchmark runs as the program it is (tests never import bench/).
    run = subprocess.run(
        [sys.executable, "-m", "bench.retrieval_eval", "--json", "--questions", str(QUESTIONS), "--docs", str(DOCS),
         "--db", str(tmp_path / "pydocs.db"), "--distractors", str(N_DISTRACTORS), "--cache-dir", str(cache_dir)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=870,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout)
    results = outcome["results"]
    report = json.dumps({"scope": outcome["scope"], "index": outcome["index"], "results": results}, indent=1)
    print(report)
    assert outcome["scored"] >= 100, report  # every dev question with a python.* anchor
    assert results["dense"]["page_recall"]["10"] > 30, report  # the index and the questions line up at all
    assert results["hybrid"]["page_recall"]["5"] >= results["dense"]["page_recall"]["5"], report
    assert results["hybrid"]["page_recall"]["10"] >= results["dense"]["page_recall"]["10"], report
