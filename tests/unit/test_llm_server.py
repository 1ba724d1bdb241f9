"""deploy/llm_server.py and deploy/llama_server.py: which server serves, with which command, built for which CPU."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from deploy import llama_server
from deploy.llama_server import cmake_switches, feature_key, levels_for
from deploy.llm_server import command

SAPPHIRE_RAPIDS = {
    *("fma", "f16c", "avx2", "bmi2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"),
    *("avx_vnni", "avx512_bf16", "avx512vbmi", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8"),
}
HASWELL = {"fma", "f16c", "avx2", "bmi2"}
MODEL = Path("/models/m.gguf")


def settings(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


def test_each_cpu_gets_the_instruction_sets_it_has_and_never_amx():
    assert levels_for(SAPPHIRE_RAPIDS) == ["avx512", "avx2", "sse42"]
    assert levels_for(HASWELL) == ["avx2", "sse42"]
    assert levels_for(set()) == ["sse42"]
    fast = cmake_switches("avx512", SAPPHIRE_RAPIDS)
    assert {"-DGGML_AVX512=ON", "-DGGML_AVX512_VNNI=ON", "-DGGML_AVX512_BF16=ON", "-DGGML_AVX_VNNI=ON"} <= set(fast)
    assert not any("AMX" in s for s in fast)
    assert "-DGGML_AVX512=ON" not in cmake_switches("avx2", SAPPHIRE_RAPIDS)
    assert "-DGGML_AVX2=OFF" in cmake_switches("sse42", HASWELL)


def test_a_different_cpu_never_shares_a_cached_build():
    plain_avx512 = SAPPHIRE_RAPIDS - {"avx512_vnni", "avx512_bf16", "avx512vbmi", "avx_vnni"}
    keys = {
        feature_key("0.3.36", "avx512", cmake_switches("avx512", SAPPHIRE_RAPIDS)),
        feature_key("0.3.36", "avx512", cmake_switches("avx512", plain_avx512)),
        feature_key("0.3.37", "avx512", cmake_switches("avx512", SAPPHIRE_RAPIDS)),
        feature_key("0.3.36", "avx2", cmake_switches("avx2", SAPPHIRE_RAPIDS)),
    }
    assert len(keys) == 4


def test_llama_cpp_python_serves_one_at_a_time_without_cutting_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # no llama-server installed here
    argv = command(settings(llm_n_threads=3, llm_flash_attn=True), MODEL, "127.0.0.1", 9000)
    assert argv[1:3] == ["-m", "llama_cpp.server"]
    joined = " ".join(argv)
    assert "--interrupt_requests False" in joined and "--n_threads 3 --n_threads_batch 3" in joined
    assert "--flash_attn True" in joined and "--port 9000" in joined
    with pytest.raises(FileNotFoundError, match="LLM_SERVER=llama-server"):
        command(settings(llm_server="llama-server"), MODEL, "127.0.0.1", 9000)


def test_an_installed_llama_server_serves_with_a_whole_context_per_slot(tmp_path, monkeypatch):
    binary = tmp_path / "bin" / "llama-server"
    binary.parent.mkdir()
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    argv = command(settings(llm_parallel=4, llm_n_ctx=2048, llm_n_threads_batch=2), MODEL, "0.0.0.0", 8080)
    assert argv[0] == str(binary)
    joined = " ".join(argv)
    assert "--ctx-size 8192 --parallel 4" in joined and "--threads-batch 2" in joined
    assert "--chat-template chatml" in joined and "--alias smollm2-135m-instruct" in joined
    assert command(settings(llm_server="llama-cpp-python"), MODEL, "h", 1)[1:3] == ["-m", "llama_cpp.server"]
    assert "--spec-type" not in joined  # off by default
    assert "--spec-type ngram-simple" in " ".join(command(settings(llm_speculative="ngram"), MODEL, "h", 1))


def test_the_build_s_libraries_are_placed_with_their_links(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    (build / "libllama.so.0.5.0").write_bytes(b"elf")
    (build / "libllama.so.0").symlink_to("libllama.so.0.5.0")
    (build / "libllama.so").symlink_to("libllama.so.0")
    dest = tmp_path / "venv" / "lib"
    llama_server.place(llama_server.libraries(build), dest)
    assert (dest / "libllama.so").is_symlink() and (dest / "libllama.so").read_bytes() == b"elf"
    assert not list(dest.glob(".*.new"))  # written beside, then renamed into place


def test_bindings_with_a_library_of_their_own_are_left_alone(tmp_path, monkeypatch):
    """A CUDA build of llama-cpp-python (the user's CMAKE_ARGS) must never get this CPU build's library."""
    own = tmp_path / "llama_cpp" / "lib"
    own.mkdir(parents=True)
    (own / "libllama.so").write_bytes(b"cuda build")
    monkeypatch.setattr(llama_server, "bindings_lib", lambda: own)
    build = tmp_path / "build"
    build.mkdir()
    (build / "libllama.so").write_bytes(b"cpu build")
    llama_server.serve_bindings(build)
    assert (own / "libllama.so").read_bytes() == b"cuda build"
    assert not llama_server.bindings_without_library()
    (own / "libllama.so").unlink()
    assert llama_server.bindings_without_library()  # installed by startup.sh without a library: ours goes there


def test_the_model_server_runs_at_llm_nice_unless_it_is_zero(tmp_path):
    """The model server yields the cores to the API's short work (bench/load.py --mixed); 0 runs it as is."""
    from deploy.llm_server import niced

    argv = ["/bin/llama-server", "--model", "m.gguf"]
    default = niced(settings(), argv)
    assert default[0].endswith("nice") and default[1:3] == ["-n", "10"] and default[3:] == argv
    assert niced(settings(llm_nice=0), argv) == argv
    with pytest.raises(ValueError):
        settings(llm_nice=20)  # beyond what nice(1) accepts: a clear settings error, not a server that never starts
