"""Web page benchmark: page weight, first paint, the page's time to first token against the stream's own,
and what recording an interaction adds to an answer.

  - page weight: /chat and every asset it loads (uncompressed), against a 300 KB budget;
  - first paint: Chromium's first-contentful-paint for /chat from a warm server (median of --loads);
  - time to first token: the page's (from pressing Enter to the first token painted) divided by
    /api/chat/stream's own (from sending the request to receiving the first token event), both measured by
    the page on the same request: what the page adds, free of the answer-to-answer variance of a busy
    machine. /api/chat/stream's first token from a plain HTTP client is also reported, for scale;
  - recording: the same answers in this process (the real graph, store and LLM) with the interaction log on
    and off, alternating, temperature 0; plus the cost of one `record` call, which is all an answer waits for.

    .venv/bin/python -m bench.web [--api-url URL --llm-url URL] [--questions 3] [--loads 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from bench.answer import flush_prefix_cache  # noqa: E402
from bench.load import own_servers, require_loopback  # noqa: E402

QUESTIONS = [
    "What is an infinite loop and how do I stop it?",
    "What does range(5) produce?",
    "How do I read a file line by line?",
    "What is a list comprehension?",
    "How do default arguments work?",
    "What does dict.get return when the key is missing?",
]
PAGE_BUDGET_BYTES = 300_000
TIMEOUT = httpx.Timeout(600, connect=10)


def page_weight(api_url: str) -> dict:
    """Bytes of the page and of everything it loads (assets named in it, the config and icon it fetches)."""
    page = httpx.get(f"{api_url}/chat", timeout=30)
    assets = set(re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)) | {"/static/config.json", "/favicon.ico"}
    sizes = {"/chat": len(page.content)}
    for path in sorted(assets):
        sizes[path] = len(httpx.get(api_url + path, timeout=30).content)
    return {"bytes": sum(sizes.values()), "files": sizes}


def first_paint(driver, api_url: str, loads: int) -> list[float]:  # type: ignore[no-untyped-def]
    """First-contentful-paint (ms from navigation start) of /chat, after one warm-up load."""
    from selenium.webdriver.support.ui import WebDriverWait

    paints = []
    for n in range(loads + 1):
        driver.get(f"{api_url}/chat")
        # the paint entry can arrive after the load event that driver.get waits for
        value = WebDriverWait(driver, 10, poll_frequency=0.05).until(
            lambda d: d.execute_script(
                "const e = performance.getEntriesByName('first-contentful-paint')[0]; return e ? e.startTime : null"
            )
        )
        if n:
            paints.append(float(value))
    return paints


def stream_first_token(api_url: str, question: str) -> float:
    """Seconds from sending the request to receiving the first token event of /api/chat/stream."""
    started = time.perf_counter()
    first = None
    with httpx.stream("POST", f"{api_url}/api/chat/stream", json={"message": question}, timeout=TIMEOUT) as response:
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event == "token" and first is None:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError(f"no token streamed for {question!r}")
    return first


def page_first_token(driver, api_url: str, question: str) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(pressing Enter → first token painted, request sent → first token received), in seconds, as the page
    measures them on one request (data-first-token-ms, data-stream-first-token-ms)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{api_url}/chat")
    box = driver.find_element(By.ID, "question")
    box.send_keys(question)
    box.send_keys("\n")
    answer = WebDriverWait(driver, 600, poll_frequency=0.2).until(
        lambda d: next(
            (a for a in d.find_elements(By.CSS_SELECTOR, "article.answer") if a.get_attribute("data-state") == "done"),
            False,
        )
    )
    shown, received = answer.get_attribute("data-first-token-ms"), answer.get_attribute("data-stream-first-token-ms")
    if not (shown and received):
        raise RuntimeError(f"the page showed no streamed token for {question!r}")
    return int(shown) / 1000, int(received) / 1000


def first_tokens(driver, api_url: str, llm_url: str, questions: list[str]) -> dict:  # type: ignore[no-untyped-def]
    rows: list[dict] = []
    for question in questions:
        flush_prefix_cache(llm_url)
        shown, received = page_first_token(driver, api_url, question)
        flush_prefix_cache(llm_url)
        plain = stream_first_token(api_url, question)
        rows.append(
            {"question": question, "page_shown": shown, "page_stream": received, "plain_client": round(plain, 3)}
        )
        print(
            f"  first token: shown {shown:.2f}s, stream {received:.2f}s (same request), plain client {plain:.2f}s"
            f"  {question}",
            flush=True,
        )
    ratios = [r["page_shown"] / r["page_stream"] for r in rows]
    return {
        "rows": rows,
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "added_ms_median": round(statistics.median(1000 * (r["page_shown"] - r["page_stream"]) for r in rows)),
    }


def recording_cost(llm_url: str, questions: list[str], repeat: int) -> dict:
    """Answers in this process with the interaction log on and off (alternating), on a private database."""
    from langchain_core.runnables import RunnableConfig
    from langgraph.checkpoint.memory import InMemorySaver

    from classroom.interactions import InteractionLog
    from core.answer import answer
    from core.settings import PROJECT_ROOT, get_settings
    from graph.graph import create_graph
    from graph.runnable import Answered, MentorRunnable
    from loaders.ingest import ingest_directory

    work = Path(tempfile.mkdtemp(prefix="bench-web-"))
    os.environ.update(LLM_BASE_URL=llm_url, MILVUS_URI=str(work / "db" / "mentor.db"))
    get_settings.cache_clear()
    print(f"ingesting course_materials/ into {work} for the in-process runs ...", flush=True)
    ingest_directory(PROJECT_ROOT / "course_materials", settings=get_settings())
    log = InteractionLog(f"sqlite:///{work / 'interactions.sqlite'}")
    log.start()
    mentor = MentorRunnable(create_graph(InMemorySaver()))
    config: RunnableConfig = {"configurable": {"temperature": 0.0, "answer_style": "generative"}}  # the LLM path
    mentor.invoke({"question": "What is a list?"}, config)  # warm-up
    pairs = []
    try:
        for n in range(repeat * len(questions)):
            question = questions[n % len(questions)]
            seconds = {}
            for recording in (True, False) if n % 2 else (False, True):
                mentor.on_answer = [log.record] if recording else []
                flush_prefix_cache(llm_url)
                started = time.perf_counter()
                mentor.invoke({"question": question}, config)
                seconds["on" if recording else "off"] = time.perf_counter() - started
            pairs.append(seconds)
            print(f"  answer: recording on {seconds['on']:.2f}s, off {seconds['off']:.2f}s  {question}", flush=True)
        log.flush()
        # What an answer itself waits for: one record() call (a queue put); the writer thread does the rest.
        outputs = [answer({"answer": "x " * 200, "grounded": True}, "c", f"{i:032x}") for i in range(2000)]
        calls = len(outputs)
        started = time.perf_counter()
        for output in outputs:
            log.record(Answered("q", "", "c", output, 1.0))
        per_call_us = (time.perf_counter() - started) / calls * 1e6
        log.flush(60)
    finally:
        log.close()
    on = sum(p["on"] for p in pairs)
    off = sum(p["off"] for p in pairs)
    median_answer = statistics.median(p["off"] for p in pairs)
    return {
        "pairs": [{k: round(v, 3) for k, v in p.items()} for p in pairs],
        "total_on_s": round(on, 2),
        "total_off_s": round(off, 2),
        "ratio_on_off": round(on / off, 4),
        "median_paired_ratio": round(statistics.median(p["on"] / p["off"] for p in pairs), 4),
        "record_call_us": round(per_call_us, 1),
        "record_call_share_of_median_answer": per_call_us / 1e6 / median_answer,
    }


def run(api_url: str, llm_url: str, questions: int, loads: int, repeat: int) -> dict:
    from harness.browser import chromium

    report: dict = {"page_weight": page_weight(api_url)}
    with chromium() as driver:
        paints = first_paint(driver, api_url, loads)
        report["first_paint_ms"] = {"loads": [round(p) for p in paints], "median": round(statistics.median(paints))}
        if questions:  # --questions 0: the page alone, no answers
            httpx.post(f"{api_url}/api/chat", json={"message": QUESTIONS[0]}, timeout=TIMEOUT).raise_for_status()
            report["first_token"] = first_tokens(driver, api_url, llm_url, QUESTIONS[:questions])
    if questions:
        report["recording"] = recording_cost(llm_url, QUESTIONS[:questions], repeat)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", help="a running API (default: start own servers)")
    parser.add_argument("--llm-url", help="its LLM server's OpenAI base URL (default: from /api/chat/stats)")
    parser.add_argument("--questions", type=int, default=3, help="questions for the first-token comparison")
    parser.add_argument("--loads", type=int, default=5, help="page loads for first paint")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of the questions for recording on/off")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    if args.api_url:
        api_url = require_loopback(args.api_url)
        llm_url = args.llm_url or httpx.get(f"{api_url}/api/chat/stats", timeout=30).json()["llm"]["endpoint"]
        report = run(api_url, require_loopback(llm_url), args.questions, args.loads, args.repeat)
    else:  # a SIGTERM (e.g. from `timeout`) must still stop the servers this process started
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        with own_servers() as (api_url, llm_url):
            report = run(api_url, llm_url, args.questions, args.loads, args.repeat)

    weight, paint = report["page_weight"], report["first_paint_ms"]
    print(f"\npage weight  {weight['bytes'] / 1000:.1f} KB uncompressed (budget {PAGE_BUDGET_BYTES / 1000:.0f} KB): "
          + ", ".join(f"{k} {v / 1000:.1f}" for k, v in weight["files"].items()))  # fmt: skip
    print(f"first paint  median {paint['median']} ms over {len(paint['loads'])} warm loads {paint['loads']} (≤ 200)")
    if "first_token" in report:
        ttft, rec = report["first_token"], report["recording"]
        print(
            f"first token  shown in the page ÷ /api/chat/stream's own, same request: median {ttft['ratio_median']}, "
            f"max {ttft['ratio_max']} (≤ 1.1); the page adds {ttft['added_ms_median']} ms"
        )
        print(
            f"recording    on {rec['total_on_s']}s ÷ off {rec['total_off_s']}s = {rec['ratio_on_off']} "
            f"(median paired {rec['median_paired_ratio']}; ≤ 1.02); one record() call {rec['record_call_us']} µs "
            f"= {rec['record_call_share_of_median_answer']:.2e} of the median answer"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
