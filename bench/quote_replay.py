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
import statistics
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.honesty import KINDS, _labelled, _plain, questions, quotes, states  # noqa: E402


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
    counted = stated = held = stated_held = same = 0
    ranks: list[float] = []
    for row in rows:
        q = by_id.get(row["id"])
        if q is None or q["kind"] not in wanted or not q.get("key_facts"):
            continue
        replayable = row.get("grounded") and row.get("answer", "").startswith(prompts.EXTRACTIVE_INTRO)
        notes = [s["text"] for s in row.get("sources", [])]
        answer = ""
        if replayable:
            index = NoteIndex(notes, cached, stats)
            answer = extractive(q.get("question") or q["turns"][-1], index, stats, prompts.EXTRACTIVE_INTRO).text
            same += quotes(answer) == quotes(row["answer"])
        elif row.get("grounded"):
            answer = row["answer"]  # an exercise or a generative answer: as the run gave it
        counted += 1
        says = all(states(answer, f) for f in q["key_facts"])
        has = all(states("\n".join(notes), f) for f in q["key_facts"])
        stated += says
        held += has
        stated_held += says and has
        sentences = [_plain(s["text"]) for f in q["key_facts"] for s in f.get("sentences", [])]
        rank = next((k for k, t in enumerate(quotes(answer), start=1) if _labelled(t, sentences)), None)
        ranks.append(1 / rank if rank else 0.0)
        if args.show and has and not says:
            print(f"\n### {row['id']} {q.get('question') or q['turns']}")
            for f in q["key_facts"]:
                print(f"  {'ok ' if states(answer, f) else 'MISS'} {f['fact']}")
            for t in quotes(answer):
                print(f"  > {t[:220]}")
    cache_file.write_bytes(pickle.dumps(cache))
    print(
        json.dumps(
            {
                "answers": counted,
                "replayed_as_run": same,
                "stating_every_key_fact_pct": round(100 * stated / counted, 1) if counted else None,
                "stating_them_when_notes_held_them_pct": round(100 * stated_held / held, 1) if held else None,
                "notes_held": held,
                "answer_sentence_p_at_1": round(sum(r == 1.0 for r in ranks) / len(ranks), 3) if ranks else None,
                "answer_sentence_mrr": round(statistics.mean(ranks), 3) if ranks else None,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
