"""Replays the quote selection on the notes a `bench.honesty` run gave each question, in seconds instead of a run.

A honesty run stores, per answer, the notes the answer was built from (the widened notes `quote` read). This
script builds the same `NoteIndex` over them and calls `graph.answer.extractive` again, so a change to how
sentences are chosen is measured on the same notes without re-running retrieval, grading and the graph: only the
selection moves. It reports answers stating every key fact, those whose notes held them, and answer-sentence
P@1 / MRR (the honesty bench's own matchers), and with `--show` each answer that misses a fact.

    .venv/bin/python -m bench.honesty --split dev --styles extractive --baseline none --work W --json > dev.json
    .venv/bin/python -m bench.quote_replay dev.json --work W [--kinds in_course,followup,everyday] [--show]

First it checks that the replay reproduces the run's own answers (the rows it can't reproduce are counted and
left out: a follow-up answered with the earlier turn read in, an exercise given back).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.honesty import KINDS, _fact_figures, questions, quotes, states  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", type=Path, help="a bench.honesty --json output")
    parser.add_argument("--work", type=Path, required=True, help="the honesty run's --work folder (its term stats)")
    parser.add_argument("--kinds", default="in_course", help=f"comma-separated, of {','.join(KINDS)}")
    parser.add_argument("--side", default="extractive", help="which side's rows (a --styles label, or before)")
    parser.add_argument("--show", action="store_true", help="print every answer that misses a key fact")
    args = parser.parse_args()

    data = json.loads(args.rows.read_text())
    rows = data["rows"][args.side]
    os.environ["MILVUS_URI"] = str(args.work / "db" / "mentor.db")
    from core import factories
    from core.evidence import NoteIndex
    from graph import prompts
    from graph.answer import extractive

    stats = factories.shared_store().term_stats()
    embed = factories.get_embeddings().embed_documents
    cache_file = args.work / "replay-vectors.pkl"
    cache: dict[str, list[float]] = pickle.loads(cache_file.read_bytes()) if cache_file.exists() else {}

    def cached(texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            cache.update(zip(missing, embed(missing), strict=True))
        return [cache[t] for t in texts]

    wanted = set(args.kinds.split(","))
    by_id = {q["id"]: q for q in questions(data.get("split", "dev"), False, None)}
    replayed: list[dict] = []
    same = 0
    for row in rows:
        q = by_id.get(row["id"])
        if q is None or q["kind"] not in wanted or not q.get("key_facts"):
            continue
        answer = row.get("answer", "")  # an exercise, a generative answer or a refusal: as the run gave it
        if row.get("grounded") and answer.startswith(prompts.EXTRACTIVE_INTRO):
            index = NoteIndex([s["text"] for s in row["sources"]], cached, stats)
            asked = q.get("question") or q["turns"][-1]
            # A follow-up read with its earlier turn in code is quoted for the two, its own words in focus.
            read = row.get("query", "")
            focus = asked if read != asked and read.startswith(asked.strip()) else None
            answer = extractive(focus and read or asked, index, stats, prompts.EXTRACTIVE_INTRO, focus=focus).text
            same += quotes(answer) == quotes(row["answer"])
        replayed.append({**row, "answer": answer})
        notes = "\n".join(s["text"] for s in row.get("sources", []))
        missed = not row.get("grounded") or not all(states(answer, f) for f in q["key_facts"])
        if args.show and missed and all(states(notes, f) for f in q["key_facts"]):
            print(f"\n### {row['id']} {q.get('question') or q['turns']}")
            for f in q["key_facts"]:
                print(f"  {'ok ' if states(answer, f) else 'MISS'} {f['fact']}")
            for t in quotes(answer):
                print(f"  > {t[:220]}")
    cache_file.write_bytes(pickle.dumps(cache))
    figures = {"answers": len(replayed), "replayed_as_run": same, **_fact_figures(by_id, replayed)}
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
