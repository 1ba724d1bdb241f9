"""Student ids for study mode, issued and signed by the server as conversation ids are (core/conversations.py).

The page keeps the id in the browser; every answer and review is stored under it. Only an id this server (or a
replica sharing MENTOR_SECRET) issued is accepted, so nobody can choose an id or make one up to read or fill
another student's progress. Signed under a key of its own: a conversation id is not a student id.
"""

from __future__ import annotations

import hmac
import secrets

from core.secret import derived_key, sign
from core.settings import Settings, get_settings


def _signature(nonce: str, settings: Settings) -> str:
    return sign(derived_key(settings, "student-ids"), f"student:{nonce}")


def issue_student_id(settings: Settings | None = None) -> str:
    """A new student id: 32 random hex digits, '-', their 32-digit signature (65 characters)."""
    settings = settings or get_settings()
    nonce = secrets.token_hex(16)
    return f"{nonce}-{_signature(nonce, settings)}"


def is_student_id(student_id: str, settings: Settings | None = None) -> bool:
    """Whether this server issued the id (constant-time comparison of the signature)."""
    nonce, dash, signature = student_id.partition("-")
    if not dash or len(nonce) != 32 or len(signature) != 32:
        return False
    return hmac.compare_digest(_signature(nonce, settings or get_settings()), signature)
