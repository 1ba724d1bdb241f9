"""Install time of the lock: `uv pip sync` (what startup.sh runs) against `pip install --require-hashes` (what
pip-tools' pip-sync runs), each into a new empty venv, the same lock, warm caches, alternated round by round.

    .venv/bin/python bench/install.py [--rounds 2] [--lock requirements/main.lock]

Prints each run and the median ratio pip ÷ uv. The llama.cpp compile is not part of either (startup.sh builds it
once per CPU and caches it); the bindings' own install (no compile, LLAMA_BUILD=OFF) is, as in startup.sh.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from deploy.lock import MAIN_LOCK, torch_source, uv_binary  # noqa: E402 (the project root, put on the path above)

ENV = {**os.environ, "CMAKE_ARGS": "-DLLAMA_BUILD=OFF -DLLAVA_BUILD=OFF", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def fresh_venv(where: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    return where / "bin" / "python"


def with_uv(lock: Path, work: Path) -> float:
    python = fresh_venv(work / "uv-venv")
    started = time.perf_counter()
    argv = [uv_binary(), "pip", "sync", "--quiet", "--require-hashes", "--python", str(python), *torch_source()]
    subprocess.run([*argv, str(lock)], check=True, env=ENV)
    return time.perf_counter() - started


def with_pip(lock: Path, work: Path) -> float:
    python = fresh_venv(work / "pip-venv")
    subprocess.run([str(python), "-m", "ensurepip", "--default-pip"], check=True, capture_output=True)
    started = time.perf_counter()
    argv = [str(python), "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", str(lock)]
    subprocess.run(argv, check=True, env=ENV)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lock", type=Path, default=MAIN_LOCK)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"uv": [], "pip": []}
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        print("warm-up: one install each fills uv's and pip's caches (not counted)", flush=True)
        for name, run in (("uv", with_uv), ("pip", with_pip)):
            print(f"  {name}: {run(args.lock, work):.1f} s", flush=True)
            shutil.rmtree(work / f"{name}-venv")
        for n in range(1, args.rounds + 1):
            for name, run in (("uv", with_uv), ("pip", with_pip)):
                seconds = run(args.lock, work)
                times[name].append(seconds)
                shutil.rmtree(work / f"{name}-venv")
                print(f"round {n} {name}: {seconds:.1f} s", flush=True)
    uv, pip = statistics.median(times["uv"]), statistics.median(times["pip"])
    print(f"\n{args.lock.name}: uv pip sync {uv:.1f} s, pip install --require-hashes {pip:.1f} s (medians of "
          f"{args.rounds}); pip ÷ uv = {pip / uv:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
