"""Who may call what: three keys, three roles, one table of routes (constant-time, keys never logged); and
credentials in query strings kept out of the logs.

- student (`MENTOR_API_KEY`): the tutor, LangServe, the page's routes, study mode (`/api/study/*`), status, metrics;
- instructor (`INSTRUCTOR_API_KEY`): also the instructor's data (`/api/instructor/*`, the class's study results too);
- admin, the operator (`ADMIN_API_KEY`, else the instructor's key): also ingest and reset (`POST /api/ingest`).
  Backup and restore have no route: they are the CLI's, on the database files, with the server stopped.

A higher key opens every lower role's routes. With no key set at all everything is open (one person on their
own machine); once any key is set, the instructor's and operator's routes need their keys, whatever else is
open: a student's key never reaches them (403), a missing or unknown key gets 401.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Iterable
from typing import Literal

from starlette.types import ASGIApp, Receive, Scope, Send

from core.settings import Settings

Role = Literal["public", "student", "instructor", "admin"]
RANK: dict[Role, int] = {"public": 0, "student": 1, "instructor": 2, "admin": 3}

# The web pages' shells and assets hold no course data: the page asks for the key and sends it on each call.
PAGE_PATHS = {"/chat", "/instructor", "/favicon.ico"}
PAGE_PREFIXES = ("/static/",)
# Signed file links check a credential of their own (a student's key, or the link's signature: server/course_files.py).
SELF_CHECKED_PREFIXES = ("/files/",)
INSTRUCTOR_PREFIXES = ("/api/instructor/",)  # /api/instructor/study: the class's quiz results (server/study.py)
ADMIN_PATHS = {"/api/ingest"}


def required_role(method: str, path: str, accept: str = "") -> Role:
    """The role a request needs, by its path: the one table every route is classified by."""
    if path in ADMIN_PATHS:
        return "admin"
    if path.startswith(INSTRUCTOR_PREFIXES):
        return "instructor"
    if path in PAGE_PATHS or path.startswith(PAGE_PREFIXES + SELF_CHECKED_PREFIXES):
        return "public"
    if path == "/" and method == "GET" and wants_page(accept):  # a browser is only redirected to the page
        return "public"
    return "student"  # everything else, study mode's /api/study/* and LangServe's /quiz/* among it


def presented_key(headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The key a request carries: `X-API-Key`, or `Authorization: Bearer …`."""
    values = dict(headers)
    key = values.get(b"x-api-key", b"")
    auth = values.get(b"authorization", b"")
    if not key and auth[:7].lower() == b"bearer ":
        key = auth[7:].strip()
    return key


def key_matches(presented: bytes, expected: str) -> bool:
    """Constant-time comparison of a presented key with the expected one (an empty expected key matches nothing)."""
    return bool(expected) and hmac.compare_digest(presented, expected.encode())


def wants_page(accept: str) -> bool:
    """A browser navigating (Accept: text/html…), not an API client (*/*, application/json)."""
    return "text/html" in accept


class Keys:
    """The configured keys and what each opens."""

    def __init__(self, settings: Settings) -> None:
        self.by_role: dict[Role, str] = {
            "admin": settings.admin_api_key or settings.instructor_api_key,
            "instructor": settings.instructor_api_key or settings.admin_api_key,
            "student": settings.mentor_api_key,
        }

    @property
    def any(self) -> bool:
        """Whether any key is set (none: one person on their own machine, everything open)."""
        return any(self.by_role.values())

    def role_of(self, presented: bytes) -> Role | None:
        """The highest role whose key was presented (every key is compared, in constant time), or None."""
        matches: list[Role] = [role for role, key in self.by_role.items() if key_matches(presented, key)]
        if not matches:
            return None
        return sorted(matches, key=RANK.__getitem__)[-1]

    def refusal(self, needed: Role, presented: bytes) -> tuple[int, str] | None:
        """(401 or 403, why) when `presented` may not call a route needing `needed`; None when it may."""
        if needed == "public" or not self.any:
            return None
        if needed == "student" and not self.by_role["student"]:
            return None  # no student key: the tutor is open, the instructor's and operator's routes are not
        role = self.role_of(presented)
        if role is None:
            return 401, "Missing or invalid API key (Authorization: Bearer … or X-API-Key)."
        if RANK[role] < RANK[needed]:
            setting = "ADMIN_API_KEY or INSTRUCTOR_API_KEY" if needed == "admin" else "INSTRUCTOR_API_KEY"
            return 403, f"This route needs the {needed}'s key ({setting}); the key sent is a {role}'s."
        return None


class RoleMiddleware:
    """Every request is checked against `required_role` before any route runs; CORS preflights pass."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = Keys(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """401/403 JSON for a request whose key does not open its route."""
        if scope["type"] != "http" or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        accept = dict(headers).get(b"accept", b"").decode("latin-1")
        needed = required_role(scope.get("method", ""), scope.get("path", ""), accept)
        refused = self.keys.refusal(needed, presented_key(headers))
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, detail = refused
        response_headers = [(b"content-type", b"application/json")]
        if status == 401:
            response_headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": json.dumps({"detail": detail}).encode()})


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
