"""Conversation ids the server issues.

A conversation belongs to whoever started it: its id is issued by the server (128 random bits and an HMAC of
them under the server's secret, core/secret.py), and only an id this server issued opens a conversation. Every
client shares one student key, so the key can't tell students apart; an unguessable id they alone were given
can. A client-chosen id ("t1") is refused (422), so it never continues another client's conversation.
"""

from __future__ import annotations

from core.secret import is_signed_id, issue_signed_id
from core.settings import Settings, get_settings

NOT_ISSUED = "conversation_not_issued"


def issue_conversation_id(settings: Settings | None = None) -> str:
    """A new conversation's id: 32 random hex digits, '-', their 32-digit signature (65 characters)."""
    return issue_signed_id("conversation", settings or get_settings())


def was_issued(conversation_id: str, settings: Settings | None = None) -> bool:
    """Whether this server (or a replica sharing its MENTOR_SECRET) issued the id (constant-time)."""
    return is_signed_id("conversation", conversation_id, settings or get_settings())
