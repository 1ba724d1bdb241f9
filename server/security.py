"""API key check for every route when MENTOR_API_KEY is set (constant-time, never logged), and credentials
in query strings kept out of the logs."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS: set[str] = set()  # every API route, /health included, needs the key when one is set
# The web pages' shells and assets hold no course data: the page asks for the key and sends it on each call.
PAGE_PATHS = {"/chat", "/instructor", "/favicon.ico"}
PAGE_PREFIXES = ("/static/",)
# Routes that check a credential of their own: signed file links (server/files.py), and the instructor's
# data (INSTRUCTOR_API_KEY, else MENTOR_API_KEY; server/web.py).
SELF_CHECKED_PREFIXES = ("/files/", "/api/instructor/")


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The key a request carries: `X-API-Key`, or `Authorization: Bearer …`."""
    values = dict(headers)
    key = values.get(b"x-api-key", b"")
    auth = values.get(b"authorization", b"")
    if not key and auth[:7].lower() == b"bearer ":
        key = auth[7:].strip()
    return key


def key_matches(presented: bytes, expected: str) -> bool:
    """Constant-time comparison of a presented key with the expected one."""
    return hmac.compare_digest(presented, expected.encode())


def wants_page(accept: str) -> bool:
    """A browser navigating (Accept: text/html…), not an API client (*/*, application/json)."""
    return "text/html" in accept


class ApiKeyMiddleware:
    """Every API route, /health included, needs the key when one is set; the pages' shells do not."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key

    def _open(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        if path in OPEN_PATHS or path in PAGE_PATHS or path.startswith(PAGE_PREFIXES + SELF_CHECKED_PREFIXES):
            return True
        # a browser opening / is only redirected to the page (the JSON status still needs the key)
        accept = dict(scope.get("headers") or []).get(b"accept", b"").decode("latin-1")
        return path == "/" and scope.get("method") == "GET" and wants_page(accept)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 JSON for a request without the right key; CORS preflights and non-HTTP scopes pass."""
        if scope["type"] != "http" or not self.api_key or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if self._open(scope) or key_matches(presented_key(scope.get("headers") or []), self.api_key):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": "Missing or invalid API key (Authorization: Bearer … or X-API-Key)."}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
            }
        )
        await send({"type": "http.response.body", "body": body})


# A query parameter whose name says it is a credential (api_key=, access_token=, password=, sig=…).
_CREDENTIAL_PARAM = re.compile(
    r"([?&][^=&#\s]*(?:key|token|secret|passw|pwd|auth|session|sig|credential)[^=&#\s]*=)[^&#\s]*", re.IGNORECASE
)


def redact(text: str) -> str:
    """`/x?api_key=abc&q=1` → `/x?api_key=***&q=1`."""
    return _CREDENTIAL_PARAM.sub(r"\1***", text)


class RedactCredentials(logging.Filter):
    """Logs the request line (uvicorn's access log) with credential-like query values replaced by ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's arguments (or its message); never drop it."""
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact(record.msg)
        return True


def redact_access_log() -> None:
    """Install the filter on uvicorn's access logger (once, however often the app is created)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactCredentials) for f in logger.filters):
        logger.addFilter(RedactCredentials())
