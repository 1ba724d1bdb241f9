"""What a request body may be: JSON, bounded, UTF-8.

- `BodyGuard` (ASGI middleware) reads every body, whole, before any route sees it: at most `max_bytes`,
  counted as they arrive (a chunked body has no Content-Length), else 413 at once, without reading on, so
  nothing is parsed, tokenized or stored; a JSON body must be UTF-8, JSON's only encoding (RFC 8259), and
  nested at most MAX_JSON_DEPTH deep, else 422. The route then receives the body as one message; later
  messages (a disconnect) pass through.
- `require_json` (a dependency of every route, so unknown paths and methods still get 404/405): a POST must
  say `Content-Type: application/json`, else 415. A page on another site can't send that without a CORS
  preflight, which the CORS settings then refuse.
"""

from __future__ import annotations

import json

from fastapi import HTTPException, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_METHODS = {"POST", "PUT", "PATCH"}
# The deepest a legitimate body goes is a chat message's content parts inside a config (about 6 levels). Python's
# parsers recurse per level: ~1,000 levels (a 2 KB body) raised RecursionError, a 500 with a traceback.
MAX_JSON_DEPTH = 64
_OPENERS, _CLOSERS, _QUOTE, _BACKSLASH = frozenset(b"[{"), frozenset(b"]}"), ord('"'), ord("\\")


def json_depth_exceeds(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether brackets outside strings nest deeper than `limit`, found without parsing (nothing recurses).

    Bodies with few brackets, nearly all of them, are cleared by two counts; the rest are scanned once, stopping
    at the first level past the limit (10,000 levels: well under a millisecond)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSERS:
            depth -= 1
    return False


def is_json(content_type: str | None) -> bool:
    """application/json, or a JSON-based type (application/…+json), with or without parameters."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def reply(send: Send, status: int, detail: object) -> None:
    """A JSON error response in the policy's shape (server/errors.py)."""
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware: the whole body, bounded and UTF-8 when it says JSON, before the app runs."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413/422 itself, or run the app with the body replayed as one message."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        too_large = f"The request body is larger than {self.max_bytes} bytes."
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await reply(send, 413, too_large)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await reply(send, 413, too_large)
                return
            if not message.get("more_body", False):
                break
        if is_json(headers.get("content-type")):
            try:
                body.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = {"loc": ["body", exc.start], "msg": "The request body is not UTF-8.", "type": "json_invalid"}
                await reply(send, 422, [error])
                return
            if json_depth_exceeds(bytes(body)):
                msg = f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels."
                await reply(send, 422, [{"loc": ["body"], "msg": msg, "type": "json_too_deep"}])
                return

        whole: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replay() -> Message:
            return whole.pop() if whole else await receive()

        await self.app(scope, replay, send)


async def require_json(request: Request) -> None:
    """415 for a POST that doesn't say it is JSON (a dependency of every route)."""
    if request.method in BODY_METHODS and not is_json(request.headers.get("content-type")):
        raise HTTPException(415, "Send the request body as JSON, with Content-Type: application/json.")
