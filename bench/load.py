"""Load on the API: N concurrent clients for a bounded time against /api/chat, compared with the LLM's serial speed.

Why: the tutor serves one answer at a time (MentorRunnable's queue in front of one llama.cpp server). Under
load every request must still get a complete 200 answer, and the API's throughput should stay close to what
the model server does alone. The reference is measured in the same run: the final ("generate") prompts of
the same questions, rebuilt from the API's own answers with the graph's prompt code, sent one after the
other to the LLM server's /v1/chat/completions. ratio = API answers/s ÷ bare completions/s (an answer costs
retrieval plus one or two LLM calls, so a ratio near 1 means the serving layer adds little).

    .venv/bin/python -m bench.load                          # starts its own LLM + API servers on free ports
    .venv/bin/python -m bench.load --api-url http://127.0.0.1:8000 [--llm-url http://127.0.0.1:8080/v1]
    .venv/bin/python -m bench.load --replicas 1,2 --clients 16   # 1 vs 2 API processes, same LLM server
    .venv/bin/python -m bench.load --mixed 1,16,16@nice --clients 16   # ANSWERS_AT_ONCE 1 (the old gate) vs 16,
                                                                      # then 16 with the model server at LLM_NICE
    options: --clients 8 --duration 60 --json PATH

--mixed gives each client one kind of question, in turn: a quote (answer_style extractive: no LLM call), a
follow-up in its own conversation (the second turn is timed) or a generated answer (answer_style generative),
through LangServe's /mentor/invoke. It reports answers per minute, p50/p95 per kind and errors for each
ANSWERS_AT_ONCE in turn, against one LLM server (LLM_PARALLEL slots) and one ingested database, in the same run.
The server starts at nice 0; a phase written `N@nice` first renices it to LLM_NICE (list those phases last:
lowering a niceness again needs root). `N@nocache` (or `N@nice@nocache`) restarts the model server with
`--no-cache-prompt`, so no slot reuses the prefix it read for an earlier request: the same load without llama.cpp's
prompt cache, e.g. `--mixed 16@nice,16@nice@nocache`.

--replicas starts PostgreSQL and a Milvus server (as tests/integration/test_replicas.py does), then each
count of API processes in turn against them and the one LLM server; clients are spread over the replicas.
It also reports the CPU seconds each server process used under load: what limits throughput.

Only loopback URLs are accepted: this is not a tool for loading other people's servers.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx

QUESTIONS = [
    "What is a list comprehension?",
    "What does range(5) produce?",
    "What does dict.get return when the key is missing?",
    "How do I open a file safely?",
    "What is a generator expression?",
    "How do default arguments work?",
]
TIMEOUT = httpx.Timeout(600, connect=10)


def require_loopback(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local or urlparse(url).scheme not in ("http", "https"):
        raise SystemExit(f"refusing {url!r}: only a local server (127.0.0.1, ::1, localhost) may be loaded")
    return url.rstrip("/")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@contextlib.contextmanager
def own_servers() -> Iterator[tuple[str, str]]:
    """An LLM server and an API on free ports with course_materials/ ingested into a temporary database."""
    from core.settings import PROJECT_ROOT
    from harness.servers import ApiServer, Deployment, LLMServer

    course = PROJECT_ROOT / "course_materials"
    root = Path(tempfile.mkdtemp(prefix="mentor-load-"))
    llm = LLMServer(root / "llm.log")
    print(f"starting the LLM server on :{llm.port} and ingesting {course.name}/ (logs in {root})", flush=True)
    llm.start()
    api = None
    try:
        deployment = Deployment.create(root, llm.url)
        result = deployment.run_cli("--directory", str(course), "--quiet")
        if result.returncode != 0:
            raise SystemExit(f"ingest failed: {result.stderr[-2000:]}")
        api = ApiServer.on_free_port(deployment, root / "api.log")
        api.start()
        yield api.url, llm.url
    finally:
        if api:
            api.stop()
        llm.stop()


def final_prompt(question: str, sources: list[dict]) -> list[dict]:
    """The messages the graph's `generate` node sends for this question and these excerpts."""
    from graph import prompts
    from graph.graph import build_context, build_messages

    # a Source holds its metadata
    candidates = [{"id": "", "text": s["text"], "metadata": s, "score": s["score"]} for s in sources]
    messages = build_messages(build_context(question, candidates) + "\n" + prompts.GENERATE_TASK)  # type: ignore[arg-type]
    roles = {"system": "system", "human": "user", "ai": "assistant"}
    return [{"role": roles[m.type], "content": str(m.content)} for m in messages]


def run_clients(clients: int, client: Callable[[int], None]) -> float:
    """Run `client(n)` for n in 0..clients-1 in threads until each returns; the seconds that took (including the
    requests still running at their deadline). Daemon threads: a SIGTERM (e.g. from `timeout`) ends the run
    without waiting for requests in flight."""
    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


def load(api_url: str | list[str], clients: int, duration: float) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    answers: dict[str, list[dict]] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + duration
    urls = [api_url] if isinstance(api_url, str) else api_url

    def client(n: int) -> None:
        api_url = urls[n % len(urls)]  # clients spread over the replicas, as a load balancer would
        with httpx.Client(timeout=TIMEOUT) as http:
            i = n
            while time.monotonic() < deadline:
                question = QUESTIONS[i % len(QUESTIONS)]
                i += clients
                started = time.monotonic()
                try:
                    response = http.post(f"{api_url}/api/chat", json={"message": question})
                    body = response.json()
                    ok = response.status_code == 200 and bool(body.get("response", "").strip())
                    problem = "" if ok else f"{response.status_code}: {str(body)[:200]}"
                except (httpx.HTTPError, ValueError) as exc:
                    body, problem = {}, f"{type(exc).__name__}: {exc}"
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(time.monotonic() - started)
                        if body.get("grounded"):
                            answers.setdefault(question, body["sources"])

    elapsed = run_clients(clients, client)
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "requests_per_s": round(len(latencies) / elapsed, 3),
        "p50_s": round(percentile(latencies, 0.50), 2),
        "p95_s": round(percentile(latencies, 0.95), 2),
        "max_s": round(max(latencies, default=float("nan")), 2),
        "_answers": answers,
    }


FOLLOW_UPS = [
    ("What is a list comprehension?", "How is it different from a generator expression?"),
    ("How do I open a file safely?", "What happens to the file if an error occurs?"),
    ("What does dict.get return when the key is missing?", "And can I choose that value?"),
]
KINDS = ("extractive", "follow-up", "generative")


def mixed(api_url: str, clients: int, duration: float) -> dict:
    """Client n asks questions of kind KINDS[n % 3] until the deadline; latency per kind."""
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    errors: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def ask(http: httpx.Client, question: str, style: str, conversation: str | None) -> dict:
        body = {"input": {"question": question, "conversation_id": conversation},
                "config": {"configurable": {"answer_style": style}}}  # fmt: skip
        response = http.post(f"{api_url}/mentor/invoke", json=body)
        output = response.json().get("output") if response.status_code == 200 else None
        if not (isinstance(output, dict) and str(output.get("answer", "")).strip()):
            raise ValueError(f"{response.status_code}: {response.text[:200]}")
        return output

    def client(n: int) -> None:
        kind = KINDS[n % len(KINDS)]
        with httpx.Client(timeout=TIMEOUT) as http:
            i = n
            while time.monotonic() < deadline:
                i += clients
                try:
                    if kind == "follow-up":
                        first, second = FOLLOW_UPS[i % len(FOLLOW_UPS)]
                        conversation = ask(http, first, "extractive", None)["conversation_id"]
                        started = time.monotonic()
                        ask(http, second, "extractive", conversation)
                    else:
                        started = time.monotonic()
                        ask(http, QUESTIONS[i % len(QUESTIONS)], kind, None)
                    with lock:
                        latencies[kind].append(time.monotonic() - started)
                except (httpx.HTTPError, ValueError) as exc:
                    with lock:
                        errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:300])

    elapsed = run_clients(clients, client)
    answered = sum(len(v) for v in latencies.values())
    return {
        "clients": clients,
        "seconds": round(elapsed, 1),
        "answers": answered,
        "answers_per_min": round(60 * answered / elapsed, 1),
        "errors": len(errors),
        "error_samples": errors[:5],
        "kinds": {
            kind: {"answers": len(v), "p50_s": round(percentile(v, 0.5), 2), "p95_s": round(percentile(v, 0.95), 2)}
            for kind, v in latencies.items()
        },
    }


def compare_at_once(phases: list[str], clients: int, duration: float) -> dict:
    """The same mixed load against one API process per phase (`N`, `N@nice`, `N@nocache` or `N@nice@nocache`:
    ANSWERS_AT_ONCE, whether the model server runs at LLM_NICE, and whether it reuses the prompt prefix a slot
    already read: `--no-cache-prompt` restarts it without) in turn: one database, one LLM server at a time."""
    from core.settings import PROJECT_ROOT, get_settings
    from harness.servers import ApiServer, Deployment, LLMServer

    parsed = [(phase, phase.split("@")) for phase in phases]  # "16@nice@nocache" → ["16", "nice", "nocache"]
    for phase, (n, *marks) in parsed:
        if not n.isdigit() or not set(marks) <= {"nice", "nocache"}:
            raise SystemExit(f"--mixed: {phase!r} is not N, N@nice, N@nocache or N@nice@nocache")
    course = PROJECT_ROOT / "course_materials"
    root = Path(tempfile.mkdtemp(prefix="mentor-mixed-"))
    llm = LLMServer(root / "llm.log", options={"llm_nice": 0})
    print(f"starting the LLM server on :{llm.port} and ingesting {course.name}/ (logs in {root})", flush=True)
    llm.start()
    results: dict = {}
    try:
        deployment = Deployment.create(root, llm.url)
        result = deployment.run_cli("--directory", str(course), "--quiet")
        if result.returncode != 0:
            raise SystemExit(f"ingest failed: {result.stderr[-2000:]}")
        for phase, (n, *marks) in parsed:
            nice = get_settings().llm_nice if "nice" in marks else 0
            no_cache = ["--no-cache-prompt"] if "nocache" in marks else []
            if no_cache != llm.extra_args:  # the same port, so the API's LLM_BASE_URL stays right
                llm.stop()
                llm = LLMServer(root / "llm.log", port=llm.port, options={"llm_nice": 0}, extra_args=no_cache)
                llm.start()
            os.setpriority(os.PRIO_PROCESS, llm.proc.pid, nice)  # type: ignore[union-attr]
            api = ApiServer.on_free_port(Deployment(root, dict(deployment.env)), root / f"api-{phase}.log")
            api.extra_env = {"ANSWERS_AT_ONCE": n}
            try:
                api.start()
                for style in ("extractive", "generative"):  # warm: the first answer of each kind loads its parts
                    warm = {"input": {"question": QUESTIONS[0]}, "config": {"configurable": {"answer_style": style}}}
                    httpx.post(f"{api.url}/mentor/invoke", json=warm, timeout=TIMEOUT)
                cache = "off" if no_cache else "on"
                print(f"{phase} (model server at nice {nice}, prompt cache {cache}): {clients} clients, "
                      f"{duration:.0f}s ...", flush=True)  # fmt: skip
                results[phase] = {**mixed(api.url, clients, duration), "llm_nice": nice, "prompt_cache": cache}
                print(mixed_line(phase, results[phase], results[phases[0]]), flush=True)
            finally:
                api.stop()
    finally:
        llm.stop()
    return {"at_once": results}


def mixed_line(phase: str, r: dict, first: dict) -> str:
    kinds = ", ".join(f"{k} {v['answers']} (p50 {v['p50_s']}s, p95 {v['p95_s']}s)" for k, v in r["kinds"].items())
    ratio = r["answers_per_min"] / first["answers_per_min"] if first["answers_per_min"] else float("nan")
    return (f"{phase}: {r['answers']} answers in {r['seconds']}s = {r['answers_per_min']}/min "
            f"({ratio:.2f} x the first), {r['errors']} errors; {kinds}")  # fmt: skip


def serial_llm(llm_url: str, prompts_: list[list[dict]], count: int, budget: float) -> dict:
    from core.settings import get_settings
    from graph.graph import STOP

    settings = get_settings()
    body = {"model": settings.llm_model_name, "temperature": settings.llm_temperature,
            "max_tokens": settings.llm_max_tokens, "stop": STOP}  # fmt: skip
    done, latencies = 0, []
    started = time.monotonic()
    with httpx.Client(timeout=TIMEOUT) as http:
        while done < count and time.monotonic() - started < budget:
            t0 = time.monotonic()
            response = http.post(
                f"{llm_url}/chat/completions", json={**body, "messages": prompts_[done % len(prompts_)]}
            )
            response.raise_for_status()
            latencies.append(time.monotonic() - t0)
            done += 1
    elapsed = time.monotonic() - started
    return {
        "completions": done,
        "seconds": round(elapsed, 1),
        "completions_per_s": round(done / elapsed, 3),
        "p50_s": round(percentile(latencies, 0.5), 2),
    }


def run(api_url: str, llm_url: str | None, clients: int, duration: float) -> dict:
    if llm_url is None:
        llm_url = httpx.get(f"{api_url}/api/chat/stats", timeout=30).json()["llm"]["endpoint"]
    llm_url = require_loopback(llm_url)
    print(f"warming up {api_url} ...", flush=True)
    httpx.post(f"{api_url}/api/chat", json={"message": QUESTIONS[0]}, timeout=TIMEOUT).raise_for_status()
    print(f"{clients} clients for {duration:.0f}s against {api_url}/api/chat ...", flush=True)
    result = load(api_url, clients, duration)
    answers = result.pop("_answers")
    prompts_ = [final_prompt(q, s) for q, s in answers.items() if s] or [[{"role": "user", "content": QUESTIONS[0]}]]
    print(f"serial reference: {max(result['ok'], 1)} bare completions to {llm_url} ...", flush=True)
    reference = serial_llm(llm_url, prompts_, max(result["ok"], 1), budget=max(duration, 30))
    ratio = result["requests_per_s"] / reference["completions_per_s"] if reference["completions_per_s"] else 0.0
    return {"api": result, "llm_serial": reference, "throughput_ratio": round(ratio, 3)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (and its waited-for children) used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def shared_state(root: Path) -> Iterator[dict[str, str]]:
    """PostgreSQL and the embedded Milvus 2.3 server, started as the replicas test starts them."""
    from harness.servers import MilvusServer, PostgresServer, postgres_bin_dir

    bindir = postgres_bin_dir()
    if bindir is None:
        raise SystemExit("--replicas needs PostgreSQL (Debian: apt-get install postgresql)")
    pg = PostgresServer.create(bindir)
    milvus = MilvusServer(root / "milvus")
    try:
        pg.start()
        milvus.start()
        yield {"MILVUS_URI": milvus.url, "CHECKPOINT_URI": pg.url, "RECORD_MANAGER_URL": pg.url}
    finally:
        milvus.stop()
        pg.remove()


def compare_replicas(counts: list[int], clients: int, duration: float) -> dict:
    """The same load against 1, 2, … API processes sharing one LLM server, Milvus server and PostgreSQL."""
    from core.settings import PROJECT_ROOT
    from harness.servers import ApiServer, Deployment, LLMServer, base_env

    course = PROJECT_ROOT / "course_materials"
    root = Path(tempfile.mkdtemp(prefix="mentor-replicas-"))
    llm = LLMServer(root / "llm.log")
    print(f"starting the LLM server, PostgreSQL and a Milvus server (logs in {root})", flush=True)
    llm.start()
    results: dict = {}
    try:
        with shared_state(root) as state:
            env = base_env(**state, LLM_BASE_URL=llm.url, INGEST_ROOTS=json.dumps([str(PROJECT_ROOT)]))
            result = Deployment(root, env).run_cli("--directory", str(course), "--quiet")
            if result.returncode != 0:
                raise SystemExit(f"ingest failed: {result.stderr[-2000:]}")
            answers: dict = {}
            for n in counts:
                logs = [root / f"api-{n}-{i}.log" for i in range(n)]
                apis = [ApiServer.on_free_port(Deployment(root, dict(env)), log) for log in logs]
                try:
                    for api in apis:
                        api.start()
                        httpx.post(f"{api.url}/api/chat", json={"message": QUESTIONS[0]}, timeout=TIMEOUT)
                    pids = {"llm": llm.proc.pid, **{f"api{i}": a.proc.pid for i, a in enumerate(apis)}}  # type: ignore[union-attr]
                    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
                    print(f"{n} replica(s), {clients} clients for {duration:.0f}s ...", flush=True)
                    results[n] = load([a.url for a in apis], clients, duration)
                    cpu = {name: round(cpu_seconds(pid) - before[name], 1) for name, pid in pids.items()}
                    results[n]["cpu_seconds"] = {"llm": cpu.pop("llm"), "api": round(sum(cpu.values()), 1)}
                    answers.update(results[n].pop("_answers"))
                    first_rate = results[counts[0]]["requests_per_s"] or float("nan")
                    results[n]["vs_first"] = round(results[n]["requests_per_s"] / first_rate, 3)
                    print(phase_line(n, results[n], counts[0]), flush=True)  # each phase as soon as it is measured
                finally:
                    for api in apis:
                        api.stop()
            prompts_ = [final_prompt(q, s) for q, s in answers.items() if s] or [[{"role": "user", "content": "hi"}]]
            reference = serial_llm(llm.url, prompts_, max(r["ok"] for r in results.values()) or 1, duration)
    finally:
        llm.stop()
    return {"replicas": results, "llm_serial": reference}


def phase_line(n: int, r: dict, first: int) -> str:
    cpu = r["cpu_seconds"]
    return (
        f"{n} replica(s): {r['ok']} answers, {r['errors']} errors, {r['requests_per_s']} req/s "
        f"({r['vs_first']} x {first}), p50 {r['p50_s']}s, p95 {r['p95_s']}s; CPU seconds under load: "
        f"LLM server {cpu['llm']}, API processes {cpu['api']} (of {r['seconds'] * (os.cpu_count() or 1):.0f} available)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", help="a running API (default: start own servers)")
    parser.add_argument("--llm-url", help="its LLM server's OpenAI base URL (default: from /api/chat/stats)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (requests then finish)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--replicas", help="compare API process counts, e.g. 1,2 (starts its own servers)")
    parser.add_argument("--mixed", help="compare ANSWERS_AT_ONCE values under a mixed load, e.g. 1,16,16@nice")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.duration <= 0:
        parser.error("--clients and --duration must be positive")
    if args.mixed:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        report = compare_at_once(args.mixed.split(","), args.clients, args.duration)
        for sample in (s for r in report["at_once"].values() for s in r["error_samples"]):
            print("  error:", sample)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
        return 1 if any(r["errors"] for r in report["at_once"].values()) else 0
    if args.replicas:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        counts = [int(n) for n in args.replicas.split(",")]
        report = compare_replicas(counts, args.clients, args.duration)
        ref = report["llm_serial"]
        print(f"LLM alone, serial: {ref['completions_per_s']} completions/s (p50 {ref['p50_s']}s)")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2))
        return 1 if any(r["errors"] for r in report["replicas"].values()) else 0

    if args.api_url:
        report = run(require_loopback(args.api_url), args.llm_url and require_loopback(args.llm_url),
                     args.clients, args.duration)  # fmt: skip
    else:  # a SIGTERM (e.g. from `timeout`) must still stop the servers this process started
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        with own_servers() as (api_url, llm_url):
            report = run(api_url, llm_url, args.clients, args.duration)

    api, ref = report["api"], report["llm_serial"]
    print(
        f"\nAPI  {api['clients']} clients, {api['seconds']}s: {api['ok']} answers, {api['errors']} errors, "
        f"{api['requests_per_s']} req/s, p50 {api['p50_s']}s, p95 {api['p95_s']}s, max {api['max_s']}s"
    )
    for sample in api["error_samples"]:
        print("  error:", sample)
    print(
        f"LLM  serial: {ref['completions']} completions in {ref['seconds']}s = {ref['completions_per_s']}/s "
        f"(p50 {ref['p50_s']}s)"
    )
    print(f"ratio API answers/s ÷ serial LLM completions/s = {report['throughput_ratio']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if api["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
