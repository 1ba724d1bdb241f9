"""How fast the local model reads and writes, beside what this CPU could do, and how it holds up under students.

One tutor-sized request (the graph's own system prompt, ≈ 600 prompt tokens of course notes and a question, up to
80 generated tokens) is sent to an OpenAI-compatible llama.cpp server:
  - prompt eval: a fresh prompt (a nonce in front defeats the prefix cache) with max_tokens=1; tokens/s is the
    prompt's token count over the time to the reply;
  - decode: the same prompt streamed; tokens/s over the time from the first token to the last;
  - best of --repeat for both (machine noise only ever adds time);
  - throughput: 1, 4 and 16 concurrent clients (each its own question behind the shared notes), completed
    answers per minute, errors, and cut streams (a stream that ends without a finish reason).
The ceiling is arithmetic: 2 × parameters + attention FLOPs per token, against cores × clock × FLOPs per cycle
(AVX-512: two 512-bit FMA ports = 64 fp32 FLOPs per cycle per core; AVX2: 32), read from /proc/cpuinfo. It is
an upper bound: decoding one token at a time is bound by memory latency long before it reaches it.

Two servers in one run: the baseline (default: llama-cpp-python's server with the packaged Q4_1 on the portable
library its own build made, as served before llama-server; deploy.llama_server builds that library once and
keeps it, since the bindings now use the install's checked build) and the measured one (default: what
startup.sh runs with this install's settings); the single-client rounds alternate between them, and the ratios
printed are measured ÷ baseline.

    .venv/bin/python -m bench.llm [--set llm_quant=Q8_0 --set llm_parallel=8 …] [--baseline FIELD=VALUE … | none]
                                  [--repeat 3] [--clients 1,4,16] [--requests 3] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from core.settings import PROJECT_ROOT

PROMPT_TOKENS = 600
MAX_TOKENS = 80
QUESTIONS = [
    "What does a list comprehension build?", "How does a for loop end early?", "What is a dictionary for?",
    "When is a tuple better than a list?", "What does the return statement do?", "How are strings sliced?",
    "What does KeyError mean?", "How do I read a file line by line?", "What is a module?",
    "What is a variable?", "Why use functions?", "How does while differ from for?", "What is None?",
    "How are arguments passed?", "What does range() return?", "How do I catch an exception?",
]  # fmt: skip


@dataclass
class Ceiling:
    """What the arithmetic allows on this CPU (an upper bound; see the module docstring)."""

    cores: int
    ghz: float
    flops_per_cycle: int
    isa: str
    params: int
    flops_per_token: float
    peak_gflops: float
    tokens_per_s: float


def cpu_ceiling(params: int, n_layer: int, n_embd: int, context: int) -> Ceiling:
    """Peak fp32 FLOPs of the cores this process may use, over the FLOPs one token costs."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    mhz = [float(line.split(":", 1)[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    ghz = (max(mhz) if mhz else 2000.0) / 1000
    isa, per_cycle = ("avx512", 64) if "avx512f" in flags else ("avx2", 32) if "avx2" in flags else ("sse", 8)
    cores = len(os.sched_getaffinity(0))
    # weights: one multiply-add per parameter; attention: QK^T and AV over half the context on average
    per_token = 2 * params + 2 * 2 * n_layer * n_embd * context / 2
    peak = cores * ghz * per_cycle
    return Ceiling(cores, ghz, per_cycle, isa, params, per_token, peak, peak * 1e9 / per_token)


def model_facts(path: Path) -> tuple[int, int, int, object]:
    """Parameters, layers, embedding width and a tokenizer of the served GGUF (loaded here, weights and all)."""
    import llama_cpp

    model = llama_cpp.Llama(model_path=str(path), n_ctx=16, verbose=False)
    meta = model.metadata
    arch = meta.get("general.architecture", "llama")
    return (model._model.n_params(), int(meta.get(f"{arch}.block_count", 0)),
            int(meta.get(f"{arch}.embedding_length", 0)), model)  # fmt: skip


def tutor_messages(tokenizer: object, question: str, nonce: str = "") -> list[dict]:
    """The graph's system prompt, course notes cut to ≈ PROMPT_TOKENS, and the question."""
    from core.settings import get_settings
    from graph import prompts

    system = prompts.SYSTEM_PROMPT.format(course=prompts.course(get_settings()))
    notes = "\n\n".join(p.read_text() for p in sorted((PROJECT_ROOT / "course_materials").rglob("*.md")))
    ids = tokenizer.tokenize(notes.encode(), add_bos=False)  # type: ignore[attr-defined]
    cut = tokenizer.detokenize(ids[: PROMPT_TOKENS - 120]).decode(errors="ignore")  # type: ignore[attr-defined]
    user = f"{nonce}Notes:\n[1] {cut}\n\nQuestion: {question}\nAnswer in a few sentences, citing [1]."
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def prompt_eval(client: httpx.Client, url: str, messages: list[dict]) -> tuple[float, int]:
    """Seconds to read the prompt (one token generated) and the prompt's token count."""
    started = time.perf_counter()
    reply = client.post(f"{url}/chat/completions", json={"messages": messages, "max_tokens": 1, "temperature": 0})
    elapsed = time.perf_counter() - started
    reply.raise_for_status()
    return elapsed, int(reply.json()["usage"]["prompt_tokens"])


def streamed(client: httpx.Client, url: str, messages: list[dict]) -> dict:
    """One streamed answer: time to first token, time of the last, tokens (one per chunk), finish reason."""
    body = {"messages": messages, "max_tokens": MAX_TOKENS, "temperature": 0, "stream": True}
    started, first, last, tokens, finish = time.perf_counter(), None, None, 0, None
    with client.stream("POST", f"{url}/chat/completions", json=body) as reply:
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = (json.loads(line[6:]).get("choices") or [{}])[0]
            if (choice.get("delta") or {}).get("content"):
                tokens += 1
                last = time.perf_counter()
                first = first or last
            finish = choice.get("finish_reason") or finish
    return {"ttft": (first or time.perf_counter()) - started, "total": (last or time.perf_counter()) - started,
            "tokens": tokens, "finish": finish}  # fmt: skip


def single(urls: dict[str, str], tokenizer: object, repeat: int) -> dict[str, dict]:
    """Best-of-`repeat` prompt-eval and decode rates for one client, the servers taken in turn each round (so a
    slow spell of the machine falls on all of them alike)."""
    reads: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
    writes: dict[str, list[tuple[float, int]]] = {name: [] for name in urls}
    with httpx.Client(timeout=600) as client:
        for url in urls.values():
            client.post(f"{url}/chat/completions", json={"messages": tutor_messages(tokenizer, "hi"), "max_tokens": 4})
        for _ in range(repeat):
            for name, url in urls.items():
                messages = tutor_messages(tokenizer, QUESTIONS[0], f"({uuid.uuid4().hex})\n")
                seconds, n = prompt_eval(client, url, messages)
                reads[name].append((n / seconds, n))
                run = streamed(client, url, tutor_messages(tokenizer, QUESTIONS[0], f"({uuid.uuid4().hex})\n"))
                if run["tokens"] > 1:
                    writes[name].append(((run["tokens"] - 1) / (run["total"] - run["ttft"]), run["tokens"]))
    out = {}
    for name in urls:
        best_read, best_write = max(reads[name]), max(writes[name], default=(0.0, 0))
        out[name] = {"prompt_tokens": best_read[1], "prompt_eval_tps": round(best_read[0], 1),
                     "decode_tokens": best_write[1], "decode_tps": round(best_write[0], 1)}  # fmt: skip
    return out


def concurrent(url: str, tokenizer: object, clients: int, per_client: int) -> dict:
    """`clients` students at once, each asking `per_client` questions behind the same notes."""
    errors: list[str] = []
    runs: list[dict] = []
    lock = threading.Lock()

    def student(i: int) -> None:
        with httpx.Client(timeout=900) as client:
            for k in range(per_client):
                question = QUESTIONS[(i * per_client + k) % len(QUESTIONS)]
                try:
                    run = streamed(client, url, tutor_messages(tokenizer, question))
                except httpx.HTTPError as exc:
                    with lock:
                        errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    runs.append(run)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(student, range(clients)))
    wall = time.perf_counter() - started
    cut = [r for r in runs if r["finish"] not in ("stop", "length")]
    return {"clients": clients, "answers": len(runs), "errors": len(errors), "cut_streams": len(cut),
            "seconds": round(wall, 1), "answers_per_min": round(60 * (len(runs) - len(cut)) / wall, 1),
            "tokens_per_s": round(sum(r["tokens"] for r in runs) / wall, 1),
            "median_ttft": round(statistics.median(r["ttft"] for r in runs), 2) if runs else None}  # fmt: skip


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return next(
        (x.split(":", 1)[1].strip() for x in info.splitlines() if x.startswith("model name")), platform.machine()
    )


def server_name(server: object, url: str) -> str:
    """Which program answered: the command the harness ran, else the URL given."""
    proc = getattr(server, "proc", None)
    if proc is None:
        return url
    argv = [str(a) for a in proc.args]
    return "llama-cpp-python" if "llama_cpp.server" in argv else Path(argv[0]).name


def options_of(items: list[str]) -> dict[str, Any]:
    """FIELD=VALUE pairs as Settings fields."""
    return dict(item.split("=", 1) for item in items)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a setting of the measured server (default: what startup.sh runs), e.g. llm_parallel=8",
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=None,
        metavar="FIELD=VALUE",
        help="a setting of the baseline server (default: llm_server=llama-cpp-python and "
        "llm_quant=packaged, the portable build that served before); 'none' for no baseline",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--requests", type=int, default=3, help="questions per client in the throughput runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from core.factories import llm_model_path
    from core.settings import Settings
    from harness.servers import LLMServer

    configs = {"measured": options_of(args.set)}
    baseline = args.baseline or ["llm_server=llama-cpp-python", "llm_quant=packaged"]
    if baseline != ["none"]:
        configs = {"baseline": options_of(baseline), **configs}
    params, n_layer, n_embd, tokenizer = model_facts(llm_model_path(Settings(_env_file=None)))  # type: ignore[call-arg]
    ceiling = cpu_ceiling(params, n_layer, n_embd, PROMPT_TOKENS)
    work = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    servers = {name: LLMServer(work / f"{name}.log", options=opts) for name, opts in configs.items()}
    if args.baseline is None:
        import importlib.metadata

        from deploy.llama_server import portable_build

        with contextlib.redirect_stdout(sys.stderr):  # its build log; stdout may be --json
            portable = portable_build(importlib.metadata.version("llama-cpp-python"))
        servers["baseline"].env["LLAMA_CPP_LIB_PATH"] = str(portable)
        print(f"baseline library: {portable}", file=sys.stderr)
    result: dict = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu_name(), "ceiling": asdict(ceiling), "configs": {}}
    try:
        for server in servers.values():
            server.start()
        rates = single({name: server.url for name, server in servers.items()}, tokenizer, args.repeat)
        for name, server in servers.items():
            settings = Settings(_env_file=None, **configs[name])  # type: ignore[call-arg]
            load = [concurrent(server.url, tokenizer, int(c), args.requests) for c in args.clients.split(",") if c]
            serial = next((r["answers_per_min"] for r in load if r["clients"] == 1), None)
            for row in load:
                row["vs_serial"] = round(row["answers_per_min"] / serial, 2) if serial else None
            result["configs"][name] = {"settings": configs[name], "server": server_name(server, server.url),
                                       "model": llm_model_path(settings).name, **rates[name], "load": load}  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
    if "baseline" in result["configs"]:
        base, new = result["configs"]["baseline"], result["configs"]["measured"]
        result["ratios"] = {"prompt_eval": round(new["prompt_eval_tps"] / base["prompt_eval_tps"], 2),
                            "decode": round(new["decode_tps"] / base["decode_tps"], 2)}  # fmt: skip
        for b, n in zip(base["load"], new["load"], strict=True):
            result["ratios"][f"{n['clients']}_clients_answers_per_min"] = round(
                n["answers_per_min"] / b["answers_per_min"], 2
            )
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['date']}, {result['cpu']}; SmolLM2 {params / 1e6:.1f} M parameters")
    print(f"ceiling: {ceiling.cores} cores × {ceiling.ghz:.2f} GHz × {ceiling.flops_per_cycle} FLOP/cycle "
          f"({ceiling.isa}) = {ceiling.peak_gflops:.0f} GFLOPS; {ceiling.flops_per_token / 1e9:.3f} GFLOP/token "
          f"→ {ceiling.tokens_per_s:.0f} tokens/s")  # fmt: skip
    for name, row in result["configs"].items():
        print(f"\n{name}: {row['server']}, {row['model']}, {' '.join(args.set if name == 'measured' else baseline)}")
        print(f"  prompt eval {row['prompt_eval_tps']} tokens/s ({row['prompt_tokens']} tokens, "
              f"{100 * row['prompt_eval_tps'] / ceiling.tokens_per_s:.1f} % of ceiling)")  # fmt: skip
        print(f"  decode      {row['decode_tps']} tokens/s ({row['decode_tokens']} tokens)")
        for load in row["load"]:
            print(f"  {load['clients']:>2} clients: {load['answers_per_min']} answers/min ({load['vs_serial']} × "
                  f"serial), {load['tokens_per_s']} tokens/s, median TTFT {load['median_ttft']} s, errors "
                  f"{load['errors']}, cut streams {load['cut_streams']}")  # fmt: skip
    if "ratios" in result:
        print("\nmeasured ÷ baseline: " + ", ".join(f"{k} {v} ×" for k, v in result["ratios"].items()))


if __name__ == "__main__":
    main()
