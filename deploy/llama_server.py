"""Build llama.cpp's llama-server for this CPU at install, check it with one real completion, install it in the venv.

    python -m deploy.llama_server [--force] [--level avx512|avx2|sse42]

- Source: the llama.cpp tree inside llama-cpp-python's sdist, the version of the installed bindings (pip
  downloads it from the package registry, or from its cache after the first time).
- Instruction set from the CPU's flags (/proc/cpuinfo): AVX-512 with VNNI/VBMI/BF16 where present, else AVX2
  (+AVX-VNNI), else SSE 4.2. Never AMX: its tiles need a per-process permission the kernel or hypervisor may
  withhold, and a native build (`GGML_NATIVE=ON`, which turns AMX on) died here with "invalid opcode".
- Cache: ~/.cache/ai-mentor/llama-server/<version>-<feature set>/ (XDG_CACHE_HOME honoured), so a different CPU
  gets its own build and never a binary with instructions it lacks; a re-install reuses it in seconds.
- Check: the binary must serve the packaged model and complete one chat request. When it fails, the next lower
  instruction set is built and checked; when all fail, nothing is installed and LLM_SERVER=auto keeps
  llama-cpp-python's server (deploy/llm_server.py), and this says so.
- One compile: llama.cpp is built as shared libraries, and the checked build's libraries also serve
  llama-cpp-python's bindings. startup.sh installs the bindings without compiling them (LLAMA_BUILD=OFF), so
  llama.cpp is compiled once per install instead of twice (the bindings' own build was 260 s of a first
  install on this machine). Bindings that came with a library of their own (a user's CMAKE_ARGS, a CUDA
  build) are left alone. When no build runs, the bindings are rebuilt by pip the portable way, as before.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

LEVELS = ["avx512", "avx2", "sse42"]
# (cpuinfo flags a level needs, llama.cpp switches it sets)
_BASE = {
    "avx512": ({"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx2", "fma", "f16c", "bmi2"},
               ["-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON", "-DGGML_BMI2=ON",
                "-DGGML_AVX512=ON"]),
    "avx2": ({"avx2", "fma", "f16c"}, ["-DGGML_AVX=ON", "-DGGML_AVX2=ON", "-DGGML_FMA=ON", "-DGGML_F16C=ON"]),
    "sse42": (set(), ["-DGGML_AVX=OFF", "-DGGML_AVX2=OFF", "-DGGML_FMA=OFF", "-DGGML_F16C=OFF", "-DGGML_BMI2=OFF"]),
}  # fmt: skip
# optional extensions: (cpuinfo flag, llama.cpp switch, levels it applies to)
_EXTRAS = [
    ("avx512_vnni", "-DGGML_AVX512_VNNI=ON", {"avx512"}),
    ("avx512vbmi", "-DGGML_AVX512_VBMI=ON", {"avx512"}),
    ("avx512_bf16", "-DGGML_AVX512_BF16=ON", {"avx512"}),
    ("avx_vnni", "-DGGML_AVX_VNNI=ON", {"avx512", "avx2"}),
    ("bmi2", "-DGGML_BMI2=ON", {"avx2"}),
]
# Shared libraries, found beside the binary (the cache) or in the venv's lib/ (installed): `$ORIGIN` is literal,
# no shell expands it.
_COMMON = ["-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", "-DBUILD_SHARED_LIBS=ON", "-DLLAMA_BUILD_TESTS=OFF",
           "-DCMAKE_BUILD_WITH_INSTALL_RPATH=ON", "-DCMAKE_INSTALL_RPATH=$ORIGIN:$ORIGIN/../lib",
           "-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_APP=OFF", "-DLLAMA_OPENSSL=OFF",
           "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would download the web UI at build time; the server runs without
           "-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]  # fmt: skip
TARGETS = ["llama-server", "llama-quantize"]
# what llama-cpp-python's CMake built before startup.sh turned its build off: the portable baseline of bench/llm
PORTABLE = ["-DGGML_NATIVE=OFF"]
BINDINGS_MARK = ".ai-mentor-build"  # in llama_cpp/lib: its libraries came from here and may be replaced


def log(message: str) -> None:
    """One line of install output, marked as this step's."""
    print(f"[llama-server] {message}", flush=True)


def levels_for(flags: set[str]) -> list[str]:
    """The instruction-set levels this CPU can run, fastest first."""
    return [level for level in LEVELS if _BASE[level][0] <= flags]


def cmake_switches(level: str, flags: set[str]) -> list[str]:
    """llama.cpp's CMake switches for a level, with the extensions this CPU has."""
    switches = list(_BASE[level][1])
    switches += [switch for flag, switch, levels in _EXTRAS if level in levels and flag in flags]
    return switches


def feature_key(version: str, level: str, switches: list[str]) -> str:
    """Cache folder name: the bindings' version, the level and a digest of the exact switches (common ones too)."""
    digest = hashlib.sha256(" ".join(sorted(switches + _COMMON)).encode()).hexdigest()[:10]
    return f"{version}-{level}-{digest}"


def cache_root() -> Path:
    """~/.cache/ai-mentor/llama-server (or under XDG_CACHE_HOME)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ai-mentor" / "llama-server"


def source_tree(version: str, work: Path) -> Path:
    """llama.cpp's source from llama-cpp-python's sdist of `version` (pip's cache makes a repeat instant)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "--quiet",
                    f"llama-cpp-python=={version}", "-d", str(work)], check=True)  # fmt: skip
    sdist = next(work.glob("llama_cpp_python-*.tar.gz"))
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name]
        tar.extractall(work, members=members)  # noqa: S202 (the registry's sdist; paths checked below)
    if any(".." in Path(m.name).parts or m.name.startswith("/") for m in members):
        raise RuntimeError(f"{sdist.name} holds paths outside its folder")
    return next(work.glob("llama_cpp_python-*")) / "vendor" / "llama.cpp"


def build(source: Path, out: Path, switches: list[str]) -> None:
    """Configure and build the targets, a progress line per tenth of the build."""
    build_dir = out / "build"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(source), "-B", str(build_dir), *generator, *_COMMON, *switches],
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    cmd = ["cmake", "--build", str(build_dir), "--target", *TARGETS, "--parallel", str(os.cpu_count() or 2)]
    shown = -1
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        tail: list[str] = []
        for line in proc.stdout or []:
            tail = (tail + [line])[-30:]
            if (m := re.search(r"\[\s*(\d+)/(\d+)\]", line)) or (m := re.search(r"\[\s*(\d+)%\]", line)):
                done = int(m.group(1)) * 100 // (int(m.group(2)) if m.lastindex == 2 else 100)
                if done // 10 > shown:
                    shown = done // 10
                    log(f"building: {done} %")
        if proc.wait():
            sys.stderr.write("".join(tail))
            raise subprocess.CalledProcessError(proc.returncode, cmd)
    for target in TARGETS:
        found = next(p for p in build_dir.rglob(target) if p.is_file() and os.access(p, os.X_OK))
        shutil.copy2(found, out / target)
    for lib in build_dir.rglob("lib*.so*"):  # libllama.so → .so.0 → .so.0.5.0: links stay links
        if lib.parent.name == "bin":
            shutil.copy2(lib, out / lib.name, follow_symlinks=False)
    shutil.rmtree(build_dir)


def libraries(folder: Path) -> list[Path]:
    """The shared libraries of a build folder, links included."""
    return sorted(folder.glob("lib*.so*"))


def place(files: list[Path], dest: Path) -> None:
    """Copy beside, then rename: a running llama-server keeps its old file (no "text file busy")."""
    dest.mkdir(parents=True, exist_ok=True)
    for file in files:
        tmp = dest / f".{file.name}.new"
        tmp.unlink(missing_ok=True)
        shutil.copy2(file, tmp, follow_symlinks=False)
        os.replace(tmp, dest / file.name)


def bindings_lib() -> Path | None:
    """llama-cpp-python's library folder (llama_cpp/lib), found without importing it (the import needs a library)."""
    spec = importlib.util.find_spec("llama_cpp")
    return Path(spec.origin).parent / "lib" if spec and spec.origin else None


def serve_bindings(out: Path) -> None:
    """The checked build's libraries for llama-cpp-python too, unless its bindings came with a library of their own."""
    lib = bindings_lib()
    if lib is None:
        return
    if (lib / "libllama.so").exists() and not (lib / BINDINGS_MARK).exists():
        log(f"llama-cpp-python has a library of its own ({lib}); left as it is")
        return
    place(libraries(out), lib)
    (lib / BINDINGS_MARK).write_text(f"{out}\n")
    probe = "import llama_cpp; llama_cpp.llama_backend_init(); print(llama_cpp.llama_print_system_info().decode())"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(f"llama-cpp-python does not load this build's libraries:\n{run.stderr[-600:]}")
    log(f"llama-cpp-python's bindings use this build's libraries ({lib}): {run.stdout.strip()[:120]}")


def bindings_without_library() -> bool:
    """True when llama-cpp-python was installed without compiling llama.cpp (startup.sh) and has no library yet."""
    lib = bindings_lib()
    return lib is not None and not (lib / "libllama.so").exists()


def rebuild_bindings_portable(version: str) -> int:
    """Let pip build llama-cpp-python with its own portable library, as every install did before (≈ 5 min)."""
    log("building llama-cpp-python's own portable library instead (about 5 minutes)")
    if (lib := bindings_lib()) is not None:
        (lib / BINDINGS_MARK).unlink(missing_ok=True)  # its own library from now on: never replaced
    env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"}
    run = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--force-reinstall", "--no-deps",
                          "--no-cache-dir", f"llama-cpp-python=={version}"], env=env)  # fmt: skip
    return run.returncode


def portable_build(version: str) -> Path:
    """llama.cpp as llama-cpp-python built it before (GGML_NATIVE=OFF, the compiler's defaults), for bench/llm's
    baseline: its folder, to give the bindings as LLAMA_CPP_LIB_PATH. Built once, cached like the others."""
    out = cache_root() / feature_key(version, "portable", PORTABLE)
    if not (out / "llama-server").is_file():
        log(f"building the portable llama.cpp {version} (the baseline; a few minutes, once)")
        with tempfile.TemporaryDirectory(prefix="llama-src-") as tmp:
            out.mkdir(parents=True, exist_ok=True)
            build(source_tree(version, Path(tmp)), out, PORTABLE)
    return out


def check(binary: Path, model: Path) -> str | None:
    """None when the binary serves the model and completes a chat request; else what went wrong."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [str(binary), "--model", str(model), "--host", "127.0.0.1", "--port", str(port), "--ctx-size", "512",
            "--threads", "2", "--no-webui"]  # fmt: skip
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        try:
            problem = _serves(proc, f"http://127.0.0.1:{port}")
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if problem and proc.returncode is not None and proc.returncode < 0:
            problem += f" (killed by signal {-proc.returncode}; 4 is an illegal instruction)"
        output.seek(0)
        return f"{problem}\n{output.read().decode(errors='replace')[-600:]}" if problem else None


def _serves(proc: subprocess.Popen, url: str) -> str | None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with {proc.returncode} before it was ready"
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    else:
        return "did not become ready within 120 s"
    body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 8, "temperature": 0}
    try:
        reply = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=120)
    except httpx.HTTPError as exc:
        return f"chat completion failed: {type(exc).__name__} {exc}"
    if reply.status_code != 200:
        return f"chat completion answered {reply.status_code}: {reply.text[:200]}"
    if not reply.json()["choices"][0]["message"].get("content"):
        return "chat completion came back empty"
    time.sleep(0.2)
    return f"exited with {proc.returncode} after answering" if proc.poll() is not None else None


def convert(quantize: Path, model: Path, quant: str) -> int:
    """The packaged model in `quant` weights, where core.factories.llm_model_path looks for it (once)."""
    from core.factories import converted_model_path

    if quant == "packaged":
        return 0
    target = converted_model_path(quant)
    if target.is_file():
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    # Q4_1 → Q8_0 / F16 keeps every weight (the 16 levels of a Q4_1 block fit an 8-bit grid); → Q4_0 quantises again.
    run = subprocess.run([str(quantize), "--allow-requantize", str(model), str(partial), quant],
                         capture_output=True, text=True)  # fmt: skip
    if run.returncode or not partial.is_file():
        log(f"converting the model to {quant} failed; the packaged Q4_1 will be served:\n{run.stdout[-600:]}")
        partial.unlink(missing_ok=True)
        return 1
    partial.rename(target)
    log(f"converted the packaged model to {quant}: {target}")
    return 0


def main() -> int:
    """Install a checked llama-server for this CPU; 0 when one is installed, 1 when none could be."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even when a cached build exists")
    parser.add_argument("--level", choices=LEVELS, help="build this instruction set only")
    parser.add_argument("--quant", help="convert the packaged model to these weights (default: LLM_QUANT)")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from core.factories import packaged_model_path
    from core.onnx_embeddings import cpu_flags  # the one reading of /proc/cpuinfo (the embedding export's too)
    from core.settings import get_settings

    args.quant = args.quant or get_settings().llm_quant
    version = importlib.metadata.version("llama-cpp-python")
    flags = cpu_flags()
    model = packaged_model_path()
    dest = Path(sys.prefix) / "bin"
    levels = [args.level] if args.level else levels_for(flags)
    with tempfile.TemporaryDirectory(prefix="llama-src-") as tmp:
        source: Path | None = None
        for level in levels:
            switches = cmake_switches(level, flags)
            out = cache_root() / feature_key(version, level, switches)
            binary = out / "llama-server"
            if args.force or not binary.is_file():
                log(f"building llama.cpp {version} for {level} ({' '.join(switches)}); a few minutes, once per CPU")
                if source is None:
                    source = source_tree(version, Path(tmp))
                out.mkdir(parents=True, exist_ok=True)
                started = time.monotonic()
                try:
                    build(source, out, switches)
                except (subprocess.CalledProcessError, StopIteration) as exc:
                    log(f"the {level} build failed ({exc}); trying the next instruction set")
                    continue
                log(f"built in {time.monotonic() - started:.0f} s: {out}")
            problem = check(binary, model)
            if problem:
                log(f"the {level} build does not run here: {problem.strip()}; trying the next instruction set")
                continue
            place(libraries(out), dest.parent / "lib")  # before the binaries that need them
            place([out / target for target in TARGETS if (out / target).is_file()], dest)
            try:
                serve_bindings(out)
            except RuntimeError as exc:
                log(str(exc))
                if rebuild_bindings_portable(version):
                    return 1
            log(f"installed {dest / 'llama-server'} ({level}); checked with one completion of the packaged model")
            return convert(dest / "llama-quantize", model, args.quant)
    (dest / "llama-server").unlink(missing_ok=True)
    log("no llama-server build runs on this machine: llama-cpp-python's server will serve (one request at a time)")
    if bindings_without_library() and rebuild_bindings_portable(version):
        log("llama-cpp-python could not be built either: see the pip output above")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
