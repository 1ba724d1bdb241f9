"""What a client may send the tutor: the question, conversation id and module, as pydantic types.

The runnable's input (graph/runnable.py) and the API's request bodies (server/schemas.py) use these, so
FastAPI, LangServe and the OpenAPI schema all enforce and show the same limits. A question longer than the
limits is a `question_too_long` error, which the server's error policy answers with 413.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from core import factories
from core.conversations import NOT_ISSUED, was_issued
from core.settings import Settings, get_settings

QUESTION_TOO_LONG = "question_too_long"
# What the server issues (core/conversations.py): 32 hex digits, '-', 32 more; empty, like omitted, starts one.
CONVERSATION_ID_PATTERN = r"^(|[0-9a-f]{32}-[0-9a-f]{32})$"


def question_token_budget(settings: Settings) -> int:
    """Tokens a question may take: a quarter of the model's context. A prompt holds it at most twice (the
    query rewrite) or once beside the notes and the answer (3 notes of 512 characters ≤ 1,536 tokens,
    256 answer tokens, ~100 of instructions: 1,024 + 1,892 ≤ 4,096 by default)."""
    return settings.llm_n_ctx // 4


def check_question(value: str) -> str:
    """Stripped; not blank; valid Unicode; at most MAX_MESSAGE_CHARS characters and the token budget."""
    text = value.strip()
    if not text:
        raise PydanticCustomError("blank", "The question must not be blank.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PydanticCustomError("string_unicode", "The question must be valid Unicode text.") from None
    if "\x00" in text:
        raise PydanticCustomError("string_nul", "The question must not contain NUL characters.")
    settings = get_settings()
    if len(text) > settings.max_message_chars:
        raise PydanticCustomError(
            QUESTION_TOO_LONG,
            "The question is longer than {limit} characters.",
            {"limit": settings.max_message_chars},
        )
    tokens, budget = factories.count_tokens(text, settings), question_token_budget(settings)
    if tokens > budget:
        raise PydanticCustomError(
            QUESTION_TOO_LONG,
            "The question is {tokens} tokens long; the model's context leaves room for {limit}.",
            {"tokens": tokens, "limit": budget},
        )
    return text


# What `check_question` refuses, said in the schema: all whitespace (what str.strip removes: str.isspace, spelled
# out because JSON Schema's \s is ECMAScript's, a different set) or a NUL anywhere. Too many tokens can't be said.
_SPACE = r"\t-\r\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
QUESTION_PATTERN = rf"^[^\u0000]*[^\u0000{_SPACE}][^\u0000]*$"
# A module name as the store's filter takes it (core/store.py's MODULE_PATTERN), not blank once stripped.
MODULE_NAME_PATTERN = r"^[\w.\- ]*[\w.\-][\w.\- ]*$"


def _question_schema(schema: dict[str, Any]) -> None:
    schema["maxLength"] = get_settings().max_message_chars
    schema["pattern"] = QUESTION_PATTERN


Question = Annotated[
    str,
    AfterValidator(check_question),
    Field(
        min_length=1,
        description="The student's question.",
        examples=["What is a list comprehension?", "hello!"],  # also what a schema fuzzer sends first
        json_schema_extra=_question_schema,
    ),
]


def check_conversation_id(value: str) -> str:
    """Empty (a new conversation), or an id this server issued: a client-chosen one never opens a conversation.
    One of the issued shape that this server did not sign is a `conversation_not_issued` error: 404."""
    if value and not was_issued(value):
        raise PydanticCustomError(
            NOT_ISSUED,
            "This conversation_id was not issued by this server. Omit it to start a conversation, then send back "
            "the conversation_id its answer carries (or get one from POST /api/conversations).",
        )
    return value


ConversationId = Annotated[
    str,
    Field(
        pattern=CONVERSATION_ID_PATTERN,
        max_length=65,
        description="Continue this conversation: an id the server issued (in an earlier answer's "
        "`conversation_id`, or from POST /api/conversations); omitted or empty: a new one. An id of this shape "
        "the server did not issue is a 404.",
    ),
    AfterValidator(check_conversation_id),  # after the pattern: a malformed id is reported as malformed
]
ModuleName = Annotated[
    str,
    Field(
        pattern=MODULE_NAME_PATTERN,
        max_length=100,
        description="Answer only from this course folder, e.g. week03 (letters, digits, spaces, '_', '.', '-').",
    ),
]
