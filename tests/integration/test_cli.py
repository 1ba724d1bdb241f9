"""The loader CLI as a user runs it: exit codes, --dry-run, --json, --reset, stats, backup and restore."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.servers import Deployment, base_env
from tests.conftest import COURSE

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path) -> Deployment:
    return Deployment(tmp_path, base_env(MILVUS_URI=str(tmp_path / "db" / "mentor.db")))


def test_usage_errors_exit_2(cli, tmp_path):
    assert cli.run_cli().returncode == 2
    missing = cli.run_cli("--directory", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not a folder" in missing.stderr


def test_dry_run_reset_stats_backup_restore(cli, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE / "week02", course / "week02")
    shutil.copytree(COURSE / "week05", course / "week05")
    (course / "week05" / "broken.docx").write_bytes(b"PK\x03\x04 not really a docx")

    dry = cli.run_cli("--directory", str(course), "--dry-run", "--json")
    report = json.loads(dry.stdout)
    assert dry.returncode == 1 and report["dry_run"] and report["chunks_written"] == 0
    assert report["summary"]["added"] == 4 and report["summary"]["failed"] == 1

    first = cli.run_cli("--directory", str(course), "--json")
    assert first.returncode == 1, "a failed file makes the exit code 1 while the rest is ingested"
    written = json.loads(first.stdout)["chunks_written"]
    assert written > 20

    stats = json.loads(cli.run_cli("stats", "--json").stdout)["chunks_per_source"]
    assert sum(stats.values()) == written and "week05/broken.docx" not in stats
    assert set(stats) == {"week02/control_flow.md", "week02/loops_handout.pdf",
                          "week05/errors_and_exceptions.docx", "week05/files_and_with.txt"}  # fmt: skip

    (course / "week05" / "broken.docx").unlink()
    reset = json.loads(cli.run_cli("--directory", str(course), "--reset", "--json").stdout)
    assert reset["summary"]["added"] == 4 and reset["chunks_written"] == written and reset["exit_code"] == 0

    archive = tmp_path / "backup.tar.gz"
    assert cli.run_cli("backup", str(archive)).returncode == 0 and archive.stat().st_size > 0
    shutil.rmtree(tmp_path / "db" / "mentor.db")
    restored = cli.run_cli("restore", str(archive), "--check-query", "How do I read a file?")
    assert restored.returncode == 0, restored.stderr[-2000:]
    assert f"Restored {written} chunks" in restored.stderr and "week05/files_and_with.txt" in restored.stderr
    again = json.loads(cli.run_cli("--directory", str(course), "--json").stdout)
    assert again["summary"]["unchanged"] == 4 and again["chunks_written"] == 0, "records were restored too"
