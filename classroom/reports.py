"""The instructor's reports on the interaction log (classroom/interactions.py): what /instructor shows and the CSV.

Reads only: questions per day, the questions the materials failed (refused, or thumbs down) with the notes
closest to them, the files grounded answers cite, the rates and medians, and every interaction as CSV.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from classroom.answered import question_key
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


def summary(engine: Engine, days: int = 30, now: float | None = None) -> dict[str, Any]:
    """What the instructor page shows, over the last `days` days."""
    now = now or time.time()
    rows = _rows(engine, now - days * 86400)
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
        "unanswered": _unanswered(rows),
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


def _unanswered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Questions the materials failed: refused, or thumbs down. The same question asked again is one entry, shown
    as last asked: with the earlier turn when it was a follow-up, the module filter the student had, and for a
    thumbs down the answer the student got."""
    earlier = _earlier_turns(rows)
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:  # newest first
        reasons = (["not in the materials"] if r["refused"] else []) + (["thumbs down"] if r["rating"] == -1 else [])
        if not reasons:
            continue
        key = question_key(r["question"])
        group = groups.setdefault(
            key,
            {
                "question": r["question"],
                "times": 0,
                "last_asked": _iso(r["created_at"]),
                "module": r["module"],
                "reasons": [],
                "closest": [{**s, "location": location(s)} for s in r["sources"][:3]],
                "comments": [],
                "earlier": earlier.get(r["answer_id"], ""),
                "answer": "",  # the answer a thumbs down was given to (the newest such)
            },
        )
        if r["rating"] == -1 and not group["answer"]:
            group["answer"] = r["answer"][:600]
        group["times"] += 1
        group["reasons"] = sorted(set(group["reasons"]) | set(reasons))
        if r["comment"]:
            group["comments"].append(r["comment"])
    return sorted(groups.values(), key=lambda g: (g["times"], g["last_asked"]), reverse=True)[:100]


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
