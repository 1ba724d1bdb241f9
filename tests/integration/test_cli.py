"""The loader CLI as a user runs it: exit codes, --dry-run, --json, --reset, stats, backup and restore."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from harness.servers import PY, Deployment, base_env
from tests.conftest import COURSE, PROJECT_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(tmp_path) -> Deployment:
    return Deployment(tmp_path, base_env(MILVUS_URI=str(tmp_path / "db" / "mentor.db")))


def test_usage_errors_exit_2(cli, tmp_path):
    assert cli.run_cli().returncode == 2
    missing = cli.run_cli("--directory", str(tmp_path / "nope"))
    # rich wraps the message in a box as wide as the terminal: read it without the box and line breaks
    message = " ".join(re.sub(r"[│╭╮╰╯─]", " ", missing.stderr).split())
    assert missing.returncode == 2 and "not a folder" in message, message


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


def test_library_noise_goes_to_a_log_and_the_summary_fits_80_columns(tmp_path):
    env = base_env(MILVUS_URI=str(tmp_path / "db" / "mentor.db"), COLUMNS="80")
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS")  # as a user runs it: transformers would draw its "Loading weights" bar
    course = tmp_path / "course" / "week01"
    course.mkdir(parents=True)
    handout = (COURSE / "week02" / "loops_handout.pdf").read_bytes()
    pointer = re.search(rb"startxref\s+(\d+)", handout)
    assert pointer
    # a wrong xref offset: pypdf warns (twice), then reads the file anyway
    broken = handout[: pointer.start(1)] + str(int(pointer.group(1)) + 7).encode() + handout[pointer.end(1) :]
    (course / "handout.pdf").write_bytes(broken)
    result = Deployment(tmp_path, env).run_cli("--directory", str(tmp_path / "course"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pypdf" not in result.stderr and "Loading weights" not in result.stderr, result.stderr
    assert "files unchanged" in result.stderr and "chunks written" in result.stderr and "…" not in result.stderr
    assert "messages from libraries written to" in result.stderr
    assert "incorrect startxref pointer" in (tmp_path / "db" / "ingest.log").read_text()


def test_delegating_to_the_running_server_imports_no_model_stack(api):
    """Milvus Lite's lock is checked first: the CLI then needs neither pymilvus nor torch (seconds to import)."""
    folder = api.deployment.root / "cli-delegate"
    (folder / "week01").mkdir(parents=True)
    (folder / "week01" / "sets.md").write_text("# Sets\n\nA set holds unique items: {1, 2, 3}.\n")

    def run() -> subprocess.CompletedProcess:
        command = [PY, "-X", "importtime", "-m", "loaders", "--directory", str(folder), "--json"]
        return subprocess.run(command, env=api.deployment.env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                              timeout=600)  # fmt: skip

    result = run()
    assert result.returncode == 0 and json.loads(result.stdout)["summary"]["added"] == 1, result.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "httpx" in imported and not {"torch", "pymilvus", "transformers", "sentence_transformers"} & imported
    (folder / "week01" / "sets.md").unlink()
    assert json.loads(run().stdout)["summary"]["deleted"] == 1


def test_links_out_of_the_folder_are_never_ingested(cli, tmp_path):
    """Issue 23: `c/passwd.md`, a link to a file outside, was ingested and quoted to students (grounded: true)."""
    course, private = tmp_path / "c", tmp_path / "private"
    (course / "week01").mkdir(parents=True)
    private.mkdir()
    (course / "week01" / "tuples.md").write_text("# Tuples\n\nA tuple is an immutable sequence: (3, 4).\n")
    (private / "passwd.md").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (private / "week09.md").write_text("# Private notes\n\nnot course material\n")
    (course / "passwd.md").symlink_to(private / "passwd.md")  # a link to a file outside
    (course / "week02").symlink_to(private)  # a link to a folder outside
    result = cli.run_cli("--directory", str(course), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    files = {f["source"]: (f["status"], f["reason"]) for f in json.loads(result.stdout)["files"]}
    assert files["passwd.md"] == files["week02"] == ("skipped", "links outside the folder"), files
    stats = json.loads(cli.run_cli("stats", "--json").stdout)["chunks_per_source"]
    assert set(stats) == {"week01/tuples.md"}, stats
