"""The dependency lock: every install is the set of versions the suite passed with.

    python deploy/lock.py compile [--upgrade] [--out DIR]   re-resolve the locks (uv), hashes included
    python deploy/lock.py check [--lock FILE]               installed distributions against the lock
    python deploy/lock.py diff OLD NEW                      what an upgrade changes, package by package
    python deploy/lock.py requirement NAME [--lock FILE]    one locked requirement with its hashes (bootstraps uv)

- `requirements/main.lock`: `.venv`, from pyproject.toml with the dev extra (the app and its test suite).
- `requirements/studio.lock`: `.venv-studio`, from requirements/studio.in (`langgraph dev`; it needs
  sse-starlette >= 2 where langserve declares < 2, hence a second environment).
- The locks are for the platform the suite runs on: CPython 3.11 on Linux x86-64 (manylinux 2.28, glibc ≥ 2.28).
- Why uv and not pip-tools: the same lock installed into an empty venv took 21 s with `uv pip sync` and 102 s
  with `pip install --require-hashes` (README, "Dependencies"); uv also resolves in seconds.
- pyproject.toml keeps the ranges the code supports; the lock is one tested point inside them. `./startup.sh
  upgrade` moves it (compile --upgrade into a scratch folder, the whole suite in a scratch venv, then the new
  locks replace these and `diff` prints what changed).

Only the standard library at import time: `requirement` and `check` run before anything else is installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
MAIN_LOCK = REQUIREMENTS / "main.lock"
STUDIO_LOCK = REQUIREMENTS / "studio.lock"
STUDIO_IN = REQUIREMENTS / "studio.in"
OVERRIDES = REQUIREMENTS / "overrides.txt"
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
# The PyTorch CPU build is not on PyPI (its torch is the CUDA build, several GB with its nvidia-* wheels): the
# resolver finds it in PIP_FIND_LINKS (a folder of wheels, as on this project's machines) or in PyTorch's CPU index.
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Installed by the interpreter or the venv itself, never by the lock.
SEEDS = {"pip", "setuptools", "wheel", "ai-mentor"}
_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised name: `Typing_Extensions` and `typing-extensions` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """{package: version} of a lock file (uv's requirements format: a `name==version` line, then its hashes)."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = _LINE.match(line)
        if match:
            found[canonical(match.group(1))] = match.group(2)
    return found


def installed() -> dict[str, str]:
    """{package: version} of what this interpreter has installed."""
    return {canonical(d.metadata["Name"]): d.version for d in importlib.metadata.distributions() if d.metadata["Name"]}


def _departures(a: dict[str, str], b: dict[str, str]) -> list[tuple[str, str | None, str | None]]:
    """(name, version in a, version in b) for each package whose version differs, None where it is absent."""
    return [(name, a.get(name), b.get(name)) for name in sorted(set(a) | set(b)) if a.get(name) != b.get(name)]


def differences(locked: dict[str, str], present: dict[str, str]) -> list[str]:
    """Each way the installed set differs from the lock, one line each; empty when they are the same."""
    return [
        f"{name} {have} is installed but not in the lock" if want is None
        else f"{name} {want} is locked but not installed" if have is None
        else f"{name} is {have}, the lock says {want}"
        for name, want, have in _departures(locked, present) if name not in SEEDS
    ]  # fmt: skip


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """What moving from one lock to another changes: upgraded, downgraded, added, removed."""
    return [
        f"+ {name} {after}" if before is None else f"- {name} {before}" if after is None
        else f"~ {name} {before} -> {after}"
        for name, before, after in _departures(old, new)
    ]  # fmt: skip


def requirement(name: str, lock: Path) -> str:
    """The lock's stanza for one package (`uv==0.13.9 --hash=…`), for `pip install --require-hashes -r`."""
    lines = lock.read_text().splitlines()
    for i, line in enumerate(lines):
        match = _LINE.match(line)
        if match and canonical(match.group(1)) == canonical(name):
            stanza = [line]
            while stanza[-1].rstrip().endswith("\\") and i + len(stanza) < len(lines):
                stanza.append(lines[i + len(stanza)])
            return "\n".join(stanza).rstrip(" \\") + "\n"
    raise SystemExit(f"{name} is not in {lock}")


def uv_binary() -> str:
    """The uv binary of this environment (the lock installs it), else one on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return str(beside)
    found = shutil.which("uv")
    if not found:
        raise SystemExit("uv is not installed: ./startup.sh install brings the locked uv into .venv")
    return found


def torch_source() -> list[str]:
    """Where the resolver finds the PyTorch CPU wheel: PIP_FIND_LINKS folders when given, else PyTorch's index."""
    links = [p for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    if links:
        return [arg for p in links for arg in ("--find-links", p)]
    return ["--extra-index-url", TORCH_CPU_INDEX, "--index-strategy", "unsafe-best-match"]


def compile_locks(out: Path, upgrade: bool) -> int:
    """Resolve both locks into `out`; the versions of the locks in `out` are kept unless `upgrade`."""
    out.mkdir(parents=True, exist_ok=True)
    jobs = [
        (["pyproject.toml", "--extra", "dev"], out / MAIN_LOCK.name),
        ([str(STUDIO_IN.relative_to(ROOT))], out / STUDIO_LOCK.name),
    ]
    for sources, target in jobs:
        argv = [uv_binary(), "pip", "compile", *sources, "--generate-hashes", "--python-version", PYTHON_VERSION,
                "--python-platform", PLATFORM, "--override", str(OVERRIDES.relative_to(ROOT)), *torch_source(),
                "--custom-compile-command", "./startup.sh upgrade", "--quiet",
                "-o", str(target)]  # fmt: skip
        if upgrade:
            argv.append("--upgrade")
        print(f"[lock] resolving {target.name}", flush=True)
        run = subprocess.run(argv, cwd=ROOT)
        if run.returncode:
            print(f"[lock] {target.name} did not resolve (the package is named above)", file=sys.stderr)
            return run.returncode
        locked = pins(target)
        if any(name.startswith("nvidia-") for name in locked) or "+cpu" not in locked.get("torch", "+cpu"):
            print(f"[lock] {target.name} resolved torch {locked.get('torch')} with CUDA wheels: give the CPU build "
                  f"(PIP_FIND_LINKS or {TORCH_CPU_INDEX})", file=sys.stderr)  # fmt: skip
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line above; exit 1 when the installed set differs from the lock."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("compile", help="resolve the locks")
    build.add_argument("--upgrade", action="store_true", help="newest versions the ranges allow")
    build.add_argument("--out", type=Path, default=REQUIREMENTS, help="folder for main.lock and studio.lock")
    verify = commands.add_parser("check", help="installed distributions against the lock")
    verify.add_argument("--lock", type=Path, default=MAIN_LOCK)
    compare = commands.add_parser("diff", help="version changes between two locks")
    compare.add_argument("old", type=Path)
    compare.add_argument("new", type=Path)
    one = commands.add_parser("requirement", help="one locked requirement with its hashes")
    one.add_argument("name")
    one.add_argument("--lock", type=Path, default=MAIN_LOCK)
    args = parser.parse_args(argv)

    if args.command == "compile":
        return compile_locks(args.out.resolve(), args.upgrade)
    if args.command == "requirement":
        sys.stdout.write(requirement(args.name, args.lock))
        return 0
    if args.command == "diff":
        lines = changes(pins(args.old), pins(args.new))
        print(
            "\n".join([f"{args.new.name}: {len(lines)} changed", *lines])
            if lines
            else f"{args.new.name}: no version changed"
        )
        return 0
    problems = differences(pins(args.lock), installed())
    for line in problems:
        print(f"[lock] {line}", file=sys.stderr)
    if problems:
        print(f"[lock] {sys.prefix} is not {args.lock.name}: ./startup.sh install syncs it", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
