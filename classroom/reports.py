"""The instructor's reports on the interaction log (classroom/interactions.py): what /instructor shows and the CSV.

Reads only: questions per day, the questions the materials failed (refused, or thumbs down) with the notes
closest to them, near-duplicates grouped into one row, counted per module and labelled "not in the materials"
or "retrieval missed" by how close the notes came; the files grounded answers cite and the course files none
has; the rates and medians, and every interaction as CSV. Which rows the instructor resolved is passed in
(classroom/resolved.py).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from classroom.answered import question_key, row_key
from classroom.answers import FILE_PREFIX
from classroom.interactions import feedback, interactions
from core.sources import cited, location

CSV_COLUMNS = (
    "time_utc",
    "module",
    "route",
    "grounded",
    "refused",
    "latency_ms",
    "first_token_ms",
    "question",
    "answer",
    "sources",
    "rating",
    "comment",
)
# A refused question whose closest note is at least this similar (cosine; the server passes the settings'
# grade_accept_score, the similarity at which a note counts as relevant on retrieval evidence alone): the
# materials probably hold the answer and the tutor missed it, rather than the materials lacking it.
STRONG_CLOSEST = 0.35
MISSED = "the materials may have it: retrieval missed"
ABSENT = "not in the materials"
MAX_ROWS = 100
MAX_NEVER_CITED = 200


def _rows(engine: Engine, since: float) -> list[dict[str, Any]]:
    """The interactions since `since` (epoch seconds), newest first, each with its feedback, if any."""
    query = (
        select(interactions, feedback.c.rating, feedback.c.comment)
        .select_from(interactions.outerjoin(feedback, interactions.c.answer_id == feedback.c.answer_id))
        .where(interactions.c.created_at >= since)
        .order_by(interactions.c.created_at.desc())
    )
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["sources"] = json.loads(row["sources"] or "[]")
    return rows


def summary(
    engine: Engine,
    days: int = 30,
    now: float | None = None,
    *,
    resolved: Mapping[str, float] | None = None,
    files: Iterable[str] | None = None,
    language: str = "english",
    strong: float = STRONG_CLOSEST,
) -> dict[str, Any]:
    """What the instructor page shows, over the last `days` days. `resolved`: when each resolved row was marked
    so (by row key); `files`: the ingested course files, for those no answer cites (None: not reported)."""
    now = now or time.time()
    rows = _rows(engine, now - days * 86400)
    missing, done = _unanswered(rows, resolved or {}, language, strong)
    course = [r for r in rows if r["route"] == "course"]
    grounded = [r for r in course if r["grounded"]]
    latencies = [r["latency_ms"] for r in rows]
    first_tokens = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    return {
        "days": days,
        "totals": {
            "questions": len(rows),
            "course_questions": len(course),
            "grounded": len(grounded),
            "refused": sum(r["refused"] for r in rows),
            "small_talk": sum(r["route"] == "chat" for r in rows),
            "grounded_rate": round(len(grounded) / len(course), 3) if course else None,
            "median_latency_ms": round(statistics.median(latencies)) if latencies else None,
            "median_first_token_ms": round(statistics.median(first_tokens)) if first_tokens else None,
            "thumbs_up": sum(r["rating"] == 1 for r in rows),
            "thumbs_down": sum(r["rating"] == -1 for r in rows),
            "conversations": len({r["conversation"] for r in rows}),
        },
        "per_day": _per_day(rows, days, now),
        "unanswered": missing,
        "resolved": done,
        "missing_per_module": _per_module(missing),
        "never_cited": None if files is None else _never_cited(engine, files),
        "top_sources": _top_sources(grounded),
        "comments": [
            {
                "at": _iso(r["created_at"]),
                "rating": r["rating"],
                "comment": r["comment"],
                "question": r["question"],
                "answer": r["answer"][:300],
            }
            for r in rows
            if r["comment"]
        ][:100],
    }


def export_csv(engine: Engine, days: int = 0) -> str:
    """Every interaction (of the last `days` days; 0 = all), newest first, one row each."""
    rows = _rows(engine, time.time() - days * 86400 if days else 0.0)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            _cells(
                [
                    _iso(r["created_at"]),
                    r["module"],
                    r["route"],
                    int(r["grounded"]),
                    int(r["refused"]),
                    r["latency_ms"],
                    "" if r["first_token_ms"] is None else r["first_token_ms"],
                    r["question"],
                    r["answer"],
                    "; ".join(location(s) for s in r["sources"]),
                    "" if r["rating"] is None else r["rating"],
                    r["comment"] or "",
                ]
            )
        )
    return out.getvalue()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _cells(values: Iterable[Any]) -> list[Any]:
    """A spreadsheet runs a cell starting with = + - @ as a formula: a student's text must stay text (OWASP)."""
    return [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in values]


def _per_day(rows: list[dict[str, Any]], days: int, now: float) -> list[dict[str, Any]]:
    today = datetime.fromtimestamp(now, timezone.utc).date()
    counts = {(today - timedelta(days=d)).isoformat(): [0, 0] for d in range(days - 1, -1, -1)}
    for r in rows:
        if r["day"] in counts:
            counts[r["day"]][0] += 1
            counts[r["day"]][1] += bool(r["refused"])
    return [{"day": day, "questions": q, "refused": refused} for day, (q, refused) in counts.items()]


def _earlier_turns(rows: list[dict[str, Any]]) -> dict[str, str]:
    """The question asked just before each answer in its conversation (in the period): a follow-up such as
    "and in Python?" makes sense only beside it."""
    earlier: dict[str, str] = {}
    last: dict[str, str] = {}
    for r in sorted(rows, key=lambda r: r["created_at"]):
        if r["conversation"] in last:
            earlier[r["answer_id"]] = last[r["conversation"]]
        last[r["conversation"]] = r["question"]
    return earlier


def row_keys(engine: Engine, language: str = "english") -> set[str]:
    """The keys of every missing-material row the log holds (any period): what may be marked resolved."""
    t = interactions.c
    query = (
        select(t.question)
        .select_from(interactions.outerjoin(feedback, t.answer_id == feedback.c.answer_id))
        .where(or_(t.refused, feedback.c.rating == -1))
    )
    with engine.connect() as conn:
        return {row_key(row.question, language) for row in conn.execute(query)}


def _unanswered(
    rows: list[dict[str, Any]], resolved: Mapping[str, float], language: str, strong: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Questions the materials failed: refused, or thumbs down, open rows and resolved ones. Near-duplicates
    (the same content terms) are one row, counted, with each wording asked; a row shows its newest wording,
    with the earlier turn when it was a follow-up, the module filter the student had, and for a thumbs down the
    answer the student got. A row counts as resolved only if nobody asked it again after it was resolved."""
    earlier = _earlier_turns(rows)
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:  # newest first
        reasons = (["refused"] if r["refused"] else []) + (["thumbs down"] if r["rating"] == -1 else [])
        if not reasons:
            continue
        key = row_key(r["question"], language)
        group = groups.setdefault(
            key,
            {
                "key": key,
                "question": r["question"],
                "times": 0,
                "last_asked": _iso(r["created_at"]),
                "newest": r["created_at"],
                "module": r["module"],
                "reasons": [],
                "closest": [{**s, "location": location(s)} for s in r["sources"][:3]],
                "comments": [],
                "earlier": earlier.get(r["answer_id"], ""),
                "answer": "",  # the answer a thumbs down was given to (the newest such)
                "variants": {},
            },
        )
        if r["rating"] == -1 and not group["answer"]:
            group["answer"] = r["answer"][:600]
        group["times"] += 1
        group["reasons"] = sorted(set(group["reasons"]) | set(reasons))
        variant = group["variants"].setdefault(question_key(r["question"]), {"question": r["question"], "times": 0})
        variant["times"] += 1
        if r["comment"]:
            group["comments"].append(r["comment"])
    missing: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for group in sorted(groups.values(), key=lambda g: (g["times"], g["last_asked"]), reverse=True):
        group["variants"] = sorted(group["variants"].values(), key=lambda v: -v["times"])
        best = max((float(s.get("score") or 0.0) for s in group["closest"]), default=0.0)
        group["closest_score"] = round(best, 4)
        group["gap"] = (MISSED if best >= strong else ABSENT) if "refused" in group["reasons"] else ""
        at = resolved.get(group["key"])
        if at is not None and at >= group.pop("newest"):
            done.append({**group, "resolved_at": _iso(at)})
        else:
            group.pop("newest", None)
            missing.append(group)
    return missing[:MAX_ROWS], done[:MAX_ROWS]


def _per_module(missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Open rows per module, most first: the module filter the student had, else the closest note's module
    ("" when neither says: a question of the whole course that found nothing)."""
    counts: dict[str, int] = {}
    for row in missing:
        module = row["module"] or next((s.get("module") for s in row["closest"] if s.get("module")), "")
        counts[module] = counts.get(module, 0) + 1
    return [{"module": m, "rows": n} for m, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _never_cited(engine: Engine, files: Iterable[str]) -> dict[str, Any]:
    """The course files no recorded grounded answer has cited (the whole log, not the period): material students
    never reach. Instructor answers are left out: "Your answers" shows their use."""
    query = select(interactions.c.answer, interactions.c.sources).where(interactions.c.grounded)
    reached: set[str] = set()
    with engine.connect() as conn:
        for row in conn.execute(query):
            numbers = set(cited(row.answer))
            reached |= {str(s.get("source")) for s in json.loads(row.sources or "[]") if s.get("n") in numbers}
    course = sorted({f for f in files if not f.rsplit("/", 1)[-1].startswith(FILE_PREFIX)})
    never = [f for f in course if f not in reached]
    return {"files": never[:MAX_NEVER_CITED], "count": len(never), "of": len(course)}


def _top_sources(grounded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Files grounded answers cite, most cited first (an answer citing a file twice counts once)."""
    counts: dict[str, dict[str, Any]] = {}
    for r in grounded:
        numbers = set(cited(r["answer"]))
        files = {s["source"]: s.get("title", "") for s in r["sources"] if s.get("n") in numbers}
        for source, title in files.items():
            entry = counts.setdefault(source, {"source": source, "title": title, "answers": 0})
            entry["answers"] += 1
    ranked = sorted(counts.values(), key=lambda e: (-e["answers"], e["source"]))
    return ranked[:20]
