"""Reviews and mastery (study/progress.py) on a real SQLite file, and the signed student ids (study/students.py)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from core.conversations import issue_conversation_id
from core.settings import Settings
from study.items import Citation, Item
from study.progress import StudyProgress
from study.students import is_student_id, issue_student_id


def item(n: int, module: str = "week01", kind: str = "term_from_definition") -> Item:
    return Item(f"item{n:012d}", kind, module, "?", f"A(n) _____ is thing {n}.", "", f"term{n}", "q",  # type: ignore[arg-type]
                Citation(f"{module}/notes.md", module, "Notes", line_start=n, line_end=n))  # fmt: skip


def test_student_ids_are_signed_and_not_conversation_ids():
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    student = issue_student_id(settings)
    assert is_student_id(student, settings) and len(student) == 65
    assert not is_student_id(student[:-1] + ("0" if student[-1] != "0" else "1"), settings)
    assert not is_student_id("alice", settings) and not is_student_id("", settings)
    assert not is_student_id(issue_conversation_id(settings), settings)


def test_a_miss_comes_back_soon_a_hit_later_and_mastery_follows(tmp_path: Path):
    progress = StudyProgress(str(tmp_path / "interactions.sqlite"))
    progress.start()
    bank = [item(1), item(2), item(3, "week02"), item(4, "week02", "fill_the_code")]
    now = time.time()
    right = progress.record("alice", bank[0], True, "term1", bank, now=now)
    wrong = progress.record("alice", bank[2], False, "nope", bank, now=now)
    soon = datetime.fromisoformat(wrong.next_review).timestamp() - now
    later = datetime.fromisoformat(right.next_review).timestamp() - now
    assert 0 < soon <= 600 and soon < later, (soon, later)  # FSRS: Again → 1 min step, Good → 10 min step
    assert right.mastery == 0.5 and right.module_mastery == 0.5  # 1 of week01's 2 definitions
    assert wrong.mastery == 0.0
    assert progress.due("alice", now=now) == []
    due = progress.due("alice", now=now + 3600)
    assert [d["item_id"] for d in due] == [bank[2].id, bank[0].id], "the miss is overdue longest"
    assert progress.due("bob", now=now + 3600) == [], "progress is per student"
    again = progress.record("alice", bank[2], True, "term3", bank, now=now + 3600)
    assert again.mastery == 1.0 and again.module_mastery == 0.5
    mastery = progress.mastery("alice", bank)
    week02 = next(m for m in mastery["by_module"] if m["module"] == "week02")
    assert week02 == {"module": "week02", "items": 2, "answered": 1, "right": 1, "mastery": 0.5}
    progress.record("bob", bank[2], False, "no idea", bank, now=now)
    stats = progress.class_stats({i.id: i for i in bank})
    assert stats["most_missed"][0]["item_id"] == bank[2].id and stats["most_missed"][0]["missed"] == 2
    assert stats["most_missed"][0]["key"] == "term3"
    week02_accuracy = next(a for a in stats["accuracy"] if a["module"] == "week02")
    assert week02_accuracy == {"module": "week02", "attempts": 3, "right": 1, "accuracy": 0.333, "students": 2}
    progress.close()
    reopened = StudyProgress(str(tmp_path / "interactions.sqlite"), salt=progress.salt)
    reopened.start()
    assert len(reopened.due("alice", now=now + 10 * 86400)) == 2, "stored, not held in memory"
    assert "alice" not in (tmp_path / "interactions.sqlite").read_bytes().decode("latin-1")
