"""Honesty benchmark: does the tutor answer only what the materials support, on a folder bigger than the sample?

Ingests course_materials/ and ../shared/fixtures (1,400+ chunks of notebooks, lessons and a glossary PDF) into
one temporary Milvus Lite collection and asks bench/honesty_questions.json: in-course questions with gold
files, off-course questions, and traps whose words occur in the materials but whose answer does not ("the
capital of France" beside `str.capitalize`, "the best stock to buy" beside `stock = {"apples": 3}`).

Each side runs in its own process (bench/honesty_runner.py) against the same collection and the same llama.cpp
server: `before` is the code at --baseline (default: the last commit before evidence-based grounding), then
this checkout with each --styles answer style. Reported per side, on the chosen split:
  - trap / off-course questions answered as grounded (%): lower is better;
  - in-course questions answered grounded with a gold file cited (%);
  - in grounded answers: sentences supported by the cited notes (%), content words found in them (%), and
    answers holding one of the question's expected terms (%);
  - LLM calls and seconds per question.
Key facts (bench/key_facts.json): answers stating them, for in-course questions, two-turn follow-ups and questions in
everyday words; with `--kinds …,late` also for the in-course questions asked late in conversations (late_*).
`--calibrate` also prints, from the dev split, how the answerability thresholds trade traps against in-course
answers (features of the first retrieval; no LLM needed).

    .venv/bin/python -m bench.honesty [--split test] [--styles auto,extractive] [--baseline REV|none]
                                      [--ci] [--limit N] [--kinds K,…] [--calibrate] [--llm-url URL] [--work DIR]
                                      [--json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from core.settings import PROJECT_ROOT  # noqa: E402

QUESTIONS = Path(__file__).with_name("honesty_questions.json")
KEY_FACTS = Path(__file__).with_name("key_facts.json")
RUNNER = Path(__file__).with_name("honesty_runner.py")
FIXTURES = PROJECT_ROOT.parent / "shared" / "fixtures"
BASELINE = "115af38"  # main before evidence-based answerability and sentence checks (issue 11)


KINDS = ("in_course", "off_course", "trap", "followup", "everyday")
# Opt-in (--kinds …,late): the split's in-course questions asked as turns of conversations of LATE_TURNS, each after
# the ones before it in the same thread; a question that stands on its own must be answered as when asked fresh.
LATE_TURNS = 8
ALL_KINDS = (*KINDS, "late")


def questions(split: str, ci: bool, limit: int | None, path: Path = QUESTIONS, facts: Path = KEY_FACTS) -> list[dict]:
    """The split's questions, each in-course one with its key facts; then the two-turn follow-ups and the
    questions in everyday words (bench/key_facts.json). With --ci only the questions marked for CI."""
    items = json.loads(path.read_text())["questions"]
    labels = json.loads(facts.read_text())
    for q in items:
        q["key_facts"] = labels["items"].get(q["id"], {}).get("key_facts", [])
    extra = [{**f, "kind": "followup"} for f in labels["followups"]]
    extra += [{**e, "kind": "everyday"} for e in labels["everyday"]]
    chosen = [q for q in items if (split == "all" or q["split"] == split) and (q.get("ci") or not ci)]
    chosen += [q for q in extra if (split == "all" or q["split"] == split) and not ci]
    chosen += _late([q for q in chosen if q["kind"] == "in_course" and q["key_facts"]])
    if limit:  # the first N of each kind, so a short run keeps the mix
        chosen = [q for kind in ALL_KINDS for q in [x for x in chosen if x["kind"] == kind][:limit]]
    return chosen


def _late(course: list[dict]) -> list[dict]:
    """The in-course questions again, each asked after the (up to LATE_TURNS - 1) questions before it in its group."""
    out = []
    for start in range(0, len(course), LATE_TURNS):
        group = course[start : start + LATE_TURNS]
        for j, q in enumerate(group):
            turns = [x["question"] for x in group[: j + 1]]
            out.append({**q, "id": f"late-{q['id']}", "kind": "late", "turns": turns})
    return out


def _plain(text: str) -> str:
    """Text as key facts are matched: lower case, Markdown emphasis and code marks and quote marks gone, one space."""
    text = re.sub(r"(?m)^\s*>\s?", "", text)
    return " ".join(text.replace("`", "").replace("*", " ").lower().split())


def _has(text: str, alternative: str) -> bool:
    """An alternative occurs: a word or phrase at a word's start (word forms: "index" finds "indexes"), code
    tokens ("!=", "::-1", "**") literally."""
    alt = _plain(alternative) if alternative.strip("*") else alternative.lower()
    if not alt:
        return False
    if alt[0].isalnum():
        return re.search(r"(?<![\w])" + re.escape(alt), text) is not None
    return alt in text


def states(text: str, fact: dict) -> bool:
    """Every concept group of a key fact has an alternative in the text."""
    plain = _plain(text)
    return all(any(_has(plain, alt) for alt in group) for group in fact["any_of"])


# Quotes a student should never be given as an answer: a question, a heading, a sentence that only announces.
ANNOUNCES = re.compile(
    r"^(here|in this (section|chapter|lesson|episode)|below|next|now|let's|let us|we('ll| will| are going to)|"
    r"the following|this (section|chapter|lesson) (will|covers|shows))\b", re.IGNORECASE
)  # fmt: skip


def quotes(answer: str) -> list[str]:
    """The quoted note sentences of an extractive answer, in order, without their citations; a line of a fenced
    code block is code even when it starts with ">" (a `>>> 5 / 2` prompt was counted as a quoted heading)."""
    out, fenced = [], False
    for line in answer.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif line.startswith(">") and not fenced:
            out.append(re.sub(r"\s*(?<![\w\])}'\"`])\[\d{1,2}\]", "", line[1:]).strip())  # not `primes[0]`
    return out


def code_lead_ins(answer: str) -> set[str]:
    """The quotes ending in ":" that a code block follows: they bring code, they don't only announce it."""
    lines = [line for line in answer.splitlines() if line.strip()]
    return {
        quoted
        for line, after in zip(lines, lines[1:], strict=False)
        if line.startswith(">") and after.lstrip().startswith("```")
        for quoted in quotes(line)
    }


def bad_quote(text: str, brings_code: bool = False) -> str | None:
    """Why a quoted unit is not an answer (a question, a heading, an announcement, cut inside code), or None.
    A list's item ("- cannot start with a digit") is no heading: a quoted "…variable names:" brings its list."""
    if text.rstrip().endswith("?"):
        return "question"
    defines = re.match(r"^\S+\s{2,}[A-Za-z]", text.strip())  # an option list's `f.readline()    returns the next line`
    item = re.match(r"^[-*+]\s", text.strip())
    if text.lstrip().startswith("#") or (
        len(text.split()) <= 8 and not re.search(r"[.!:;)]$", text.strip()) and not defines and not item
    ):
        return "heading"
    if ANNOUNCES.match(text.strip()) and text.rstrip().endswith(":") and not brings_code:
        return "announcement"
    if text.count("`") % 2:
        return "cut_code"
    return None


def _labelled(text: str, fact_sentences: list[str]) -> bool:
    plain = _plain(text)
    return bool(plain) and any(plain in s or s in plain for s in fact_sentences)


def ingest(env: dict[str, str], folders: list[Path]) -> None:
    for folder in folders:
        result = subprocess.run([sys.executable, "-m", "loaders", "--directory", str(folder), "--quiet"],
                                env=env, cwd=PROJECT_ROOT, capture_output=True, text=True)  # fmt: skip
        if result.returncode not in (0, 1):  # 1 = some file failed (reported), the rest is ingested
            raise SystemExit(f"ingest of {folder} failed:\n{result.stderr[-2000:]}")


def run_side(
    code_dir: Path, items: list[dict], configurable: dict, env: dict[str, str], work: Path, label: str
) -> list:
    """One process per side, so an older checkout's graph can be imported under the same runner."""
    qfile, out = work / f"{label}-questions.json", work / f"{label}-rows.json"
    qfile.write_text(json.dumps(items))
    side_env = {**env, "PYTHONPATH": str(code_dir)}
    print(f"--- {label}: {len(items)} questions", file=sys.stderr, flush=True)
    command = [sys.executable, str(RUNNER), str(qfile), str(out), json.dumps({"configurable": configurable})]
    result = subprocess.run(command, env=side_env, cwd=code_dir, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
    if result.returncode:
        raise SystemExit(f"{label} failed:\n{result.stderr[-3000:]}")
    return json.loads(out.read_text())


def _pct(part: float, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def score(rows: list[dict], items: list[dict], index_for) -> dict:  # type: ignore[no-untyped-def]
    """The figures of one side. Sentences are checked with this checkout's checker for every side alike."""
    from core.text import Segment, strip_citations, terms
    from graph.prompts import EXERCISE_INTRO, EXTRACTIVE_INTRO, SOLUTION_INTRO

    intros = {EXTRACTIVE_INTRO, EXERCISE_INTRO, SOLUTION_INTRO}  # the tutor's own framing, not a claim of the notes

    by_id = {q["id"]: q for q in items}
    errors = [r for r in rows if "error" in r]
    rows = [r for r in rows if "error" not in r]
    kinds: dict[str, list[dict]] = {kind: [] for kind in ALL_KINDS}
    sentences = supported = words = found = term_hits = 0
    grounded_course = 0
    for row in rows:
        q = by_id[row["id"]]
        kinds[q["kind"]].append(row)
        if not row["grounded"]:
            continue
        cited = [s for s in row["sources"] if s["n"] in row["cited"]] or row["sources"]
        if q["kind"] in ("followup", "everyday", "late"):
            continue  # their own figures (below); the honesty figures stay those of the question set
        if q["kind"] == "in_course":
            grounded_course += 1
            text = row["answer"].lower()
            term_hits += any(t.lower() in text for t in q.get("answer_terms", []))
        index, thresholds = index_for([s["text"] for s in cited])
        body = [
            line
            for line in row["answer"].splitlines()
            if not line.strip().startswith("Sources:") and line.strip() not in intros
        ]
        for seg in _segments("\n".join(body)):
            check = index.check(Segment(seg.text.lstrip("> ").strip(), seg.code, seg.block), thresholds)
            if check.claim:
                sentences += 1
                supported += check.supported
        have = set().union(*(set(terms(s["text"])) for s in cited)) if cited else set()
        own = terms(strip_citations(row["answer"]))
        words += len(own)
        found += sum(t in have for t in own)
    course, off, trap = kinds["in_course"], kinds["off_course"], kinds["trap"]
    facts = _fact_figures(by_id, course)
    extra = {
        f"{kind}_{name}": value
        for kind in ("followup", "everyday", "late")
        if kind != "late" or kinds[kind]
        for name, value in (
            ("grounded_pct", _pct(sum(r["grounded"] for r in kinds[kind]), len(kinds[kind]))),
            ("stating_every_key_fact_pct", _fact_figures(by_id, kinds[kind])["stating_every_key_fact_pct"]),
        )
    }
    gold_cited = 0
    for row in course:
        gold = set(by_id[row["id"]]["gold_sources"])
        cited = [s["source"] for s in row["sources"] if s["n"] in row["cited"]] or [s["source"] for s in row["sources"]]
        gold_cited += row["grounded"] and bool(gold & set(cited))
    seconds = [r["seconds"] for r in course]
    return {
        "questions": len(rows),
        "errors": len(errors),
        "trap_grounded_pct": _pct(sum(r["grounded"] for r in trap), len(trap)),
        "off_course_grounded_pct": _pct(sum(r["grounded"] for r in off), len(off)),
        "trap_and_off_course_grounded_pct": _pct(sum(r["grounded"] for r in trap + off), len(trap + off)),
        "in_course_grounded_pct": _pct(grounded_course, len(course)),
        "in_course_grounded_with_gold_cited_pct": _pct(gold_cited, len(course)),
        "grounded_sentences_supported_pct": _pct(supported, sentences),
        "grounded_content_words_in_cited_notes_pct": _pct(found, words),
        "in_course_grounded_with_expected_term_pct": _pct(term_hits, grounded_course),
        **facts,
        **extra,
        "llm_calls_per_question": round(statistics.mean(r["llm_calls"] for r in rows), 2) if rows else None,
        "seconds_per_question": round(statistics.mean(r["seconds"] for r in rows), 2) if rows else None,
        "seconds_per_in_course_question": round(statistics.mean(seconds), 2) if seconds else None,
        "median_seconds_in_course": round(statistics.median(seconds), 2) if seconds else None,
        "p95_seconds_in_course": round(sorted(seconds)[int(0.95 * (len(seconds) - 1))], 2) if seconds else None,
    }


def _fact_figures(by_id: dict[str, dict], rows: list[dict]) -> dict:
    """Does the answer state what was asked? Key facts (bench/key_facts.json) in the answer, in the notes it was
    given, and where the labelled sentences rank among its quotes."""
    labelled = [r for r in rows if by_id[r["id"]].get("key_facts")]
    stated = held = stated_when_held = 0
    ranks: list[float] = []
    bad: dict[str, int] = {"question": 0, "heading": 0, "announcement": 0, "cut_code": 0}
    for row in labelled:
        q = by_id[row["id"]]
        answer = row["answer"] if row["grounded"] else ""
        notes = "\n".join(s.get("text", "") for s in row["sources"])
        says = all(states(answer, f) for f in q["key_facts"])
        has = all(states(notes, f) for f in q["key_facts"])
        stated += says
        held += has
        stated_when_held += says and has
        sentences = [_plain(s["text"]) for f in q["key_facts"] for s in f.get("sentences", [])]
        quoted = quotes(answer)
        rank = next((k for k, text in enumerate(quoted, start=1) if _labelled(text, sentences)), None)
        ranks.append(1 / rank if rank else 0.0)
        if row.get("held_back"):
            continue  # an exercise given back whole (HINTS_FIRST): its questions are the task, not an answer
        leads = code_lead_ins(answer)
        for text in quoted:
            if (why := bad_quote(text, text in leads)) is not None:
                bad[why] += 1
    n = len(labelled)
    return {
        "stating_every_key_fact_pct": _pct(stated, n),
        "notes_held_every_key_fact_pct": _pct(held, n),
        "stating_them_when_notes_held_them_pct": _pct(stated_when_held, held),
        "answer_sentence_p_at_1": round(sum(r == 1.0 for r in ranks) / n, 3) if n else None,
        "answer_sentence_mrr": round(statistics.mean(ranks), 3) if ranks else None,
        **{f"quotes_{why}": count for why, count in bad.items()},
    }


def _segments(text: str) -> list:  # type: ignore[type-arg]
    from core.text import segments

    return segments(text)


def calibrate(rows: list[dict], items: list[dict]) -> list[dict]:
    """Answerability on the first retrieval, per operating point: what share of traps / off-course questions
    would pass, and of in-course questions with a gold note among those passing. The rule is the graph's own
    (`Answerability.can_answer`); the points vary the pairs that trade one kind of evidence for the other."""
    from dataclasses import replace

    from core.evidence import Answerability
    from core.text import terms
    from graph.configuration import Configuration

    by_id = {q["id"]: q for q in items}
    base = Configuration.from_runnable_config().answerability()
    pairs = itertools.product([0.3, 0.4, 0.5], [0.5, 0.55, 0.6])
    weak = itertools.product([0, 0.35, 0.38, 0.42], [0.5, 0.6, 0.7])
    points = [
        *({"min_coverage": m, "strong_similarity": s} for m, s in pairs),
        *({"weak_similarity": w, "weak_min_coverage": c} for w, c in weak),
        *({"synonym_similarity": s} for s in (0.45, 0.5, 0.55, 1.01)),
    ]
    table = []
    for point in points:
        rule: Answerability = replace(base, **point)
        passed = {"in_course": 0, "gold": 0, "off": 0, "n_course": 0, "n_off": 0}
        for row in rows:
            q = by_id[row["id"]]
            unknown = len(row.get("unknown_terms") or [])
            ok = [
                c for c, e in zip(row["candidates"], row["evidence"], strict=False)
                if rule.can_answer(c["score"], e["coverage"], unknown=unknown, rest=e.get("rest", 0.0),
                                   terms=len(set(terms(q["question"]))))
            ]  # fmt: skip
            if q["kind"] == "in_course":
                passed["n_course"] += 1
                passed["in_course"] += bool(ok)
                passed["gold"] += any(c["source"] in q["gold_sources"] for c in ok)
            else:
                passed["n_off"] += 1
                passed["off"] += bool(ok)
        table.append({
            **point,
            "trap_off_pass_pct": _pct(passed["off"], passed["n_off"]),
            "in_course_pass_pct": _pct(passed["in_course"], passed["n_course"]),
            "in_course_gold_pass_pct": _pct(passed["gold"], passed["n_course"]),
        })  # fmt: skip
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["dev", "test", "all"])
    parser.add_argument("--styles", default="auto,generative,extractive", help="answer styles of this checkout")
    parser.add_argument("--baseline", default=BASELINE, help="git revision for the 'before' side, or 'none'")
    parser.add_argument("--ci", action="store_true", help="only the questions marked for CI")
    parser.add_argument("--limit", type=int, help="the first N questions of each kind")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help=f"only these kinds of question (comma-separated, of {','.join(ALL_KINDS)})",
    )
    parser.add_argument("--calibrate", action="store_true", help="threshold table from the dev split (no LLM)")
    parser.add_argument("--llm-url", help="an already running llama.cpp server (…/v1); default: start one")
    parser.add_argument("--work", type=Path, help="keep the collection in this folder (re-runs skip the ingest)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"the shared fixtures are not at {FIXTURES}: this benchmark needs them")

    work = args.work or Path(tempfile.mkdtemp(prefix="bench-honesty-"))
    work.mkdir(parents=True, exist_ok=True)
    llm = None
    try:
        llm_url = args.llm_url
        if not llm_url and not args.calibrate:
            from harness.servers import LLMServer

            llm = LLMServer(work / "llm.log")
            llm.start()
            llm_url = llm.url
        env = {**os.environ, "MILVUS_URI": str(work / "db" / "mentor.db"), "LLM_BASE_URL": llm_url or "http://127.0.0.1:9/v1",
               "CHECKPOINT_DB": str(work / "conversations.sqlite"), "LLM_TIMEOUT": "600"}  # fmt: skip
        env.pop("PYTHONPATH", None)
        ingest(env, [PROJECT_ROOT / "course_materials", FIXTURES])
        results: dict[str, dict] = {}
        if args.calibrate:
            dev = questions("dev", args.ci, args.limit)
            rows = run_side(PROJECT_ROOT, dev, {"answer_style": "extractive", "max_rewrites": 0, "temperature": 0.0},
                            env, work, "calibrate")  # fmt: skip
            table = calibrate(rows, dev)
            print(json.dumps(table, indent=1) if args.json else "\n".join(json.dumps(r) for r in table))
            return
        items = [q for q in questions(args.split, args.ci, args.limit) if q["kind"] in args.kinds.split(",")]
        sides: list[tuple[str, Path, dict]] = []
        base_dir = None
        if args.baseline != "none":
            base_dir = work / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(base_dir), args.baseline], cwd=PROJECT_ROOT,
                           check=True, capture_output=True)  # fmt: skip
            sides.append(("before", base_dir, {"temperature": 0.0}))
        for style in [s for s in args.styles.split(",") if s]:
            sides.append((style, PROJECT_ROOT, {"temperature": 0.0, "answer_style": style}))
        all_rows = {label: run_side(code, items, conf, env, work, label) for label, code, conf in sides}
        if base_dir:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(base_dir)], cwd=PROJECT_ROOT, capture_output=True
            )
        index_for = _index_factory(env)
        for label, rows in all_rows.items():
            results[label] = score(rows, items, index_for)
        if args.json:
            print(json.dumps({"split": args.split, "results": results, "rows": all_rows}, indent=1))
            return
        keys = list(next(iter(results.values())).keys())
        print(f"split={args.split} questions={len(items)} collection={work / 'db'}")
        print(f"{'':44}" + "".join(f"{label:>12}" for label in results))
        for key in keys:
            print(f"{key:44}" + "".join(f"{str(results[label][key]):>12}" for label in results))
    finally:
        if llm:
            llm.stop()


def _index_factory(env: dict[str, str]):  # type: ignore[no-untyped-def]
    """This checkout's sentence checker over given notes, with the collection's term statistics."""
    os.environ["MILVUS_URI"] = env["MILVUS_URI"]
    from core import factories
    from core.evidence import NoteIndex, Thresholds
    from core.settings import get_settings

    get_settings.cache_clear()
    settings = get_settings()
    stats = factories.shared_store().term_stats()
    embed = factories.get_embeddings().embed_documents
    thresholds = Thresholds(similarity=settings.support_similarity, overlap=settings.support_overlap)
    return lambda notes: (NoteIndex(notes, embed, stats), thresholds)


if __name__ == "__main__":
    main()
