"""The server's own secret, for what must not be derived from an API key: signed conversation ids, file links
and the salt of the interaction log's conversation hashes.

`MENTOR_SECRET` when set (replicas on several machines must share one); otherwise generated once and kept in
`server_secret` in the data folder (mode 0600), so a restart keeps every link and conversation valid. Each use
gets its own key derived from it, so a value one of them reveals (a link's signature) says nothing of another.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from core.settings import Settings

SECRET_FILE = "server_secret"


def _read_or_create(path: Path) -> bytes:
    """The secret in `path`, created atomically if missing: every process on the machine ends with the same one
    (two workers starting together both write a candidate; os.link lets exactly one of them become the file)."""
    for _ in range(50):
        try:
            value = path.read_bytes().strip()
        except FileNotFoundError:
            value = b""
        if value:
            return value
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        finally:
            os.close(fd)
        try:
            os.link(candidate, path)
        except FileExistsError:
            time.sleep(0.01)  # another process won: read its secret
        finally:
            candidate.unlink(missing_ok=True)
    raise RuntimeError(f"{path} stays empty; delete it or set MENTOR_SECRET")


@lru_cache(maxsize=8)
def _master(configured: str, path: str) -> bytes:
    return configured.encode() if configured else _read_or_create(Path(path))


def secret_path(settings: Settings) -> Path:
    """Where the generated secret lives: beside the Milvus Lite database (or under milvus_data/)."""
    return settings.data_dir / SECRET_FILE


def derived_key(settings: Settings, purpose: str) -> bytes:
    """A key for one purpose ("conversation-ids", "file-links", "log-salt"), derived from the server's secret."""
    master = _master(settings.mentor_secret, str(secret_path(settings)))
    return hmac.new(master, f"ai-mentor:{purpose}".encode(), hashlib.sha256).digest()


def sign(key: bytes, message: str, hex_chars: int = 32) -> str:
    """A hex HMAC-SHA256 of `message`, cut to `hex_chars` (32 = 128 bits)."""
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()[:hex_chars]


def _id_signature(kind: str, nonce: str, settings: Settings) -> str:
    return sign(derived_key(settings, f"{kind}-ids"), f"{kind}:{nonce}")


def issue_signed_id(kind: str, settings: Settings) -> str:
    """A new id of one kind ("conversation", "student"): 32 random hex digits, '-', their 32-digit signature under
    that kind's own key (65 characters), so an id of one kind is never accepted as another."""
    nonce = secrets.token_hex(16)
    return f"{nonce}-{_id_signature(kind, nonce, settings)}"


def is_signed_id(kind: str, value: str, settings: Settings) -> bool:
    """Whether this server (or a replica sharing its MENTOR_SECRET) issued `value` as an id of `kind`
    (constant-time comparison of the signature)."""
    nonce, dash, signature = value.partition("-")
    if not dash or len(nonce) != 32 or len(signature) != 32:
        return False
    return hmac.compare_digest(_id_signature(kind, nonce, settings), signature)
