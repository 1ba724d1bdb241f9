"""Checks before the API starts: every state setting answers within seconds, or the start fails naming it.

Without them a wrong MILVUS_URI or CHECKPOINT_URI surfaces as a traceback from each uvicorn worker (or a
hang on an address that drops packets); with them, `python -m server` prints one line and exits 2.
"""

from __future__ import annotations

import logging

from core.settings import Settings
from core.sql import StateUnavailableError, check_reachable, is_postgres

log = logging.getLogger("ai_mentor.server")


class PreflightError(RuntimeError):
    """A setting that stops the start; the message names it."""


def check(settings: Settings, processes: int = 1) -> None:
    """Raise PreflightError naming the setting at fault; warn about state other replicas could not see."""
    if processes > 1 and settings.milvus_is_local:
        raise PreflightError(
            f"API_WORKERS={settings.api_workers} (or several replicas) needs a Milvus server, but "
            f"MILVUS_URI={settings.milvus_uri} is a Milvus Lite file, which only one process may open. "
            "Set MILVUS_URI=http://host:19530 (see README, 'Past one machine') or API_WORKERS=1."
        )
    if not settings.milvus_is_local:
        from core.store import open_client

        try:
            open_client(settings).close()
        except Exception as exc:  # pymilvus raises several unrelated types for "cannot connect"
            raise PreflightError(f"MILVUS_URI={settings.milvus_uri} is unreachable: {exc}") from exc
    try:
        if is_postgres(settings.checkpoint_uri):
            check_reachable(settings.checkpoint_uri, "CHECKPOINT_URI")
        if settings.record_manager_url:
            check_reachable(settings.record_manager_url, "RECORD_MANAGER_URL")
    except StateUnavailableError as exc:
        raise PreflightError(str(exc)) from exc
    if processes > 1 or not settings.milvus_is_local:
        local = [name for name, value in (("CHECKPOINT_URI", settings.checkpoint_uri),
                                          ("RECORD_MANAGER_URL", settings.record_manager_url or "sqlite"))
                 if not is_postgres(value)]  # fmt: skip
        if local:
            log.warning(
                "%s: local SQLite files. Workers on this machine share them; replicas on other machines "
                "would not see them: set postgresql://… for several machines.",
                ", ".join(local),
            )
