"""Study mode's items, measured: how many, of which kinds, from which modules, what was rejected and why, whether
every key is in its cited source, how long a 10-item quiz takes (first and after), and grading time per answer.

Why: items are only worth showing if each is built from the materials and checkable (issue 29: 100 % of keys
in their sources, >= 90 % of a 40-item sample well-formed on reading, a quiz in <= 1 s after the first, grading
<= 50 ms per answer). The fixtures are read in place (../shared/fixtures), never copied into the project.

    .venv/bin/python -m bench.quiz [--roots DIR ...] [--sample sample.md] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from study.bank import BankCache
from study.grading import grade
from study.items import Item
from study.quiz import QuizRequest, candidates, choose
from study.verify import key_in_source

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ROOTS = [PROJECT_ROOT / "course_materials", PROJECT_ROOT.parent / "shared" / "fixtures"]
SAMPLE = 40


def sample_markdown(items: list[Item]) -> str:
    """The sample for reading: what a student sees, then the key and the source it is checked against."""
    out = [f"# {len(items)} quiz items (study mode sample)\n"]
    for n, item in enumerate(items, start=1):
        out.append(f"## {n}. {item.kind} — {item.module} ({item.id})\n")
        out.append(f"{item.prompt}\n")
        if item.body:
            out.append(f"> {item.body}\n")
        if item.code:
            out.append(f"```\n{item.code}\n```\n")
        if item.options:
            out.append("Options: " + " · ".join(item.options) + "\n")
        out.append(f"**Key:** `{item.key}`  \n**Source:** {item.citation.as_dict()['location']}  ")
        out.append(f"**Quote:** {item.quote[:300]}\n")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roots", nargs="+", type=Path, default=DEFAULT_ROOTS)
    parser.add_argument("--sample", type=Path, help="write a 40-item sample (Markdown) here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    cache = BankCache(args.roots)
    started = time.perf_counter()
    bank = cache.get()
    first_quiz = choose(candidates(bank, QuizRequest("course")), 10, seed="first")
    first_s = time.perf_counter() - started
    after = []
    for n in range(5):
        started = time.perf_counter()
        quiz = choose(candidates(cache.get(), QuizRequest("course")), 10, seed=f"after{n}")
        after.append(time.perf_counter() - started)
    assert len(first_quiz) == len(quiz) == 10
    topics = ["list comprehensions", "what is a generator?", "how do I open a file", "floating-point numbers"]
    started = time.perf_counter()
    choose(candidates(cache.get(), QuizRequest("topic", topic=topics[0])), 10, seed="t")
    topic_first_s = time.perf_counter() - started  # indexes the items' stems once
    topic_after = []
    for topic in topics:
        started = time.perf_counter()
        choose(candidates(cache.get(), QuizRequest("topic", topic=topic)), 10, seed="t")
        topic_after.append(time.perf_counter() - started)

    missing = [item for item in bank.items if not key_in_source(item)]
    grading_ms = []
    for item in bank.items:
        for answer in (item.key, "not the answer"):
            started = time.perf_counter()
            grade(item, answer)
            grading_ms.append((time.perf_counter() - started) * 1000)
    wrongly_graded = [i.id for i in bank.items if not grade(i, i.key).correct]

    reasons = Counter(f"{r.kind}: {r.reason}" for r in bank.rejects)
    examples: dict[str, str] = {}
    for reject in bank.rejects:
        examples.setdefault(f"{reject.kind}: {reject.reason}", f"{reject.source}: {reject.text[:100]!r}")
    report = {
        "roots": [str(r) for r in args.roots],
        "items": len(bank.items),
        "per_kind": dict(Counter(i.kind for i in bank.items)),
        "per_module": dict(sorted(Counter(i.module for i in bank.items).items())),
        "keys_in_source": f"{len(bank.items) - len(missing)}/{len(bank.items)}",
        "keys_missing": [(i.id, i.kind, i.key, i.citation.as_dict()["location"]) for i in missing],
        "own_key_graded_wrong": wrongly_graded,
        "rejects": len(bank.rejects),
        "reject_reasons": dict(reasons.most_common()),
        "reject_examples": {reason: examples[reason] for reason, _ in reasons.most_common(12)},
        "quiz_10_first_s": round(first_s, 2),
        "quiz_10_after_ms": round(statistics.median(after) * 1000, 1),
        "topic_quiz_10_first_s": round(topic_first_s, 2),
        "topic_quiz_10_after_ms": round(statistics.median(topic_after) * 1000, 1),
        "grading_ms_mean": round(statistics.mean(grading_ms), 3),
        "grading_ms_max": round(max(grading_ms), 2),
    }
    if args.sample:
        sample = choose(bank.items, SAMPLE, seed="sample")
        args.sample.write_text(sample_markdown(sample))
        report["sample"] = str(args.sample)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for name, value in report.items():
            if isinstance(value, dict):
                print(f"{name}:")
                for k, v in value.items():
                    print(f"    {k}: {v}")
            else:
                print(f"{name}: {value}")
    return 0 if not missing and not wrongly_graded else 1


if __name__ == "__main__":
    sys.exit(main())
