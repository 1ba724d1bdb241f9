"""The one command line that serves the model, for startup.sh, the test harness and the benchmarks alike.

Two servers speak the OpenAI API the graph uses:
  - llama.cpp's own `llama-server`, built at install from the llama.cpp source inside llama-cpp-python's sdist
    for this CPU's instruction set (deploy/llama_server.py): parallel slots and continuous batching, so
    several students are answered at once;
  - llama-cpp-python's server, the fallback: one request at a time (`--interrupt_requests False` so a new
    request never cuts a running stream).
`LLM_SERVER=auto` takes llama-server when the install left one that passed its check, else llama-cpp-python's.

    python -m deploy.llm_server [--host H] [--port P] [--print]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

from core.settings import Settings, get_settings

# llama-cpp-python chat formats → llama-server's built-in template names (others: the GGUF's own template)
_TEMPLATES = {"chatml": "chatml", "mistral-instruct": "mistral-v1", "gemma": "gemma", "llama-3": "llama3"}


def llama_server_binary(settings: Settings) -> Path | None:
    """The checked llama-server of this install (next to the venv's python), unless LLM_SERVER says otherwise."""
    if settings.llm_server == "llama-cpp-python":
        return None
    path = Path(sys.prefix) / "bin" / "llama-server"
    if path.is_file() and os.access(path, os.X_OK):
        return path
    if settings.llm_server == "llama-server":
        raise FileNotFoundError(
            f"LLM_SERVER=llama-server but {path} is missing: run ./startup.sh install (it builds it), "
            "or set LLM_SERVER=auto to fall back to llama-cpp-python's server."
        )
    return None


def command(settings: Settings, model: Path, host: str, port: int) -> list[str]:
    """The model server's command line for these settings."""
    threads = str(settings.llm_n_threads)
    batch_threads = str(settings.llm_n_threads_batch or settings.llm_n_threads)
    binary = llama_server_binary(settings)
    if binary is None:
        return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", host, "--port", str(port),
                "--n_ctx", str(settings.llm_n_ctx), "--n_threads", threads, "--n_threads_batch", batch_threads,
                "--n_batch", str(settings.llm_batch_size), "--n_ubatch", str(settings.llm_ubatch_size),
                "--flash_attn", str(settings.llm_flash_attn), "--chat_format", settings.llm_chat_format,
                "--model_alias", settings.llm_model_name, "--interrupt_requests", "False"]  # fmt: skip
    slots = max(1, settings.llm_parallel)
    argv = [str(binary), "--model", str(model), "--host", host, "--port", str(port),
            # each slot gets the whole LLM_N_CTX: a tutor prompt must fit one slot, whatever the others hold
            "--ctx-size", str(settings.llm_n_ctx * slots), "--parallel", str(slots),
            "--threads", threads, "--threads-batch", batch_threads,
            "--batch-size", str(settings.llm_batch_size), "--ubatch-size", str(settings.llm_ubatch_size),
            "--flash-attn", "on" if settings.llm_flash_attn else "off",
            "--alias", settings.llm_model_name, "--no-webui"]  # fmt: skip
    if template := _TEMPLATES.get(settings.llm_chat_format):
        argv += ["--chat-template", template]
    if settings.llm_speculative == "ngram":  # drafts from the prompt; see Settings.llm_speculative
        argv += ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "4", "--spec-ngram-simple-size-m", "16"]
    return argv


def niced(settings: Settings, argv: list[str]) -> list[str]:
    """The command run at LLM_NICE: the model server yields the cores to the API's short work (core/settings.py)."""
    nice = shutil.which("nice")
    return [nice, "-n", str(settings.llm_nice), *argv] if settings.llm_nice and nice else argv


def main() -> None:
    """Replace this process with the model server (startup.sh's `llm` process)."""
    from core.factories import llm_model_path

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    settings = get_settings()
    parser.add_argument("--host", default=settings.llm_host)
    parser.add_argument("--port", type=int, default=settings.llm_port)
    parser.add_argument("--print", action="store_true", help="print the command instead of running it")
    args = parser.parse_args()
    argv = niced(settings, command(settings, llm_model_path(settings), args.host, args.port))
    if args.print:
        print(shlex.join(argv))
        return
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
