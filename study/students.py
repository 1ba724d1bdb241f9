"""Student ids for study mode, issued and signed by the server as conversation ids are (core/conversations.py).

The page keeps the id in the browser; every answer and review is stored under it. Only an id this server (or a
replica sharing MENTOR_SECRET) issued is accepted, so nobody can choose an id or make one up to read or fill
another student's progress. Signed under a key of its own: a conversation id is not a student id.
"""

from __future__ import annotations

from core.secret import is_signed_id, issue_signed_id
from core.settings import Settings, get_settings


def issue_student_id(settings: Settings | None = None) -> str:
    """A new student id: 32 random hex digits, '-', their 32-digit signature (65 characters)."""
    return issue_signed_id("student", settings or get_settings())


def is_student_id(student_id: str, settings: Settings | None = None) -> bool:
    """Whether this server issued the id (constant-time comparison of the signature)."""
    return is_signed_id("student", student_id, settings or get_settings())
