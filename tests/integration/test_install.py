"""./startup.sh install against a lock that can't be installed: a clear error naming the package, and a venv
that the next run does not take for a good one."""

from __future__ import annotations

import os
import subprocess

import pytest

from deploy import lock
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration


def test_a_lock_that_no_longer_resolves_names_the_package_and_marks_nothing_installed(tmp_path):
    locks = tmp_path / "locks"
    locks.mkdir()
    # the locked uv (so the bootstrap works as in a real install), then a version no registry serves (yanked)
    bad = lock.requirement("uv", lock.MAIN_LOCK) + "six==0.0.999 \\\n    --hash=sha256:" + "0" * 64 + "\n"
    (locks / "main.lock").write_text(bad)
    venv = tmp_path / "venv"
    env = {**os.environ, "MENTOR_VENV": str(venv), "MENTOR_LOCK_DIR": str(locks)}
    run = subprocess.run(["./startup.sh", "install"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "six" in output and f"Installing {locks / 'main.lock'} failed" in output, output[-3000:]
    assert not (venv / ".ai-mentor-installed").exists()  # the next run installs again instead of trusting it
