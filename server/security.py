"""API key check for every route when MENTOR_API_KEY is set (constant-time, never logged), and credentials
in query strings kept out of the logs."""

from __future__ import annotations

import hmac
import json
import logging
import re

from starlette.types import ASGIApp, Receive, Scope, Send


class ApiKeyMiddleware:
    """Every route, /health included, needs the key when one is set."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.api_key = api_key.encode()

    def _presented(self, scope: Scope) -> bytes:
        headers = dict(scope.get("headers") or [])
        key = headers.get(b"x-api-key", b"")
        auth = headers.get(b"authorization", b"")
        if not key and auth[:7].lower() == b"bearer ":
            key = auth[7:].strip()
        return key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401 JSON for a request without the right key; CORS preflights and non-HTTP scopes pass."""
        if scope["type"] != "http" or not self.api_key or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        if hmac.compare_digest(self._presented(scope), self.api_key):
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
