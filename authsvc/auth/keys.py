"""Session keys: from the environment or a file, never from the code."""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.fernet import Fernet

from authsvc.config import ConfigError

log = logging.getLogger(__name__)


def generate_key() -> str:
    return Fernet.generate_key().decode("ascii")


def load_session_keys(keys: list[str], key_file: str | None, env: str) -> list[bytes]:
    """Every key that decrypts, the encrypting one first."""
    if key_file:
        try:
            keys = [line.strip() for line in Path(key_file).read_text().splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"session.key_file: cannot be read: {exc.strerror}") from None
    if not keys:
        if env != "development":
            raise ConfigError("session.keys: a session key is required outside development")
        log.warning("no session key configured: using a throw-away key; sessions will not survive a restart")
        keys = [generate_key()]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"session.keys: key {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
            ) from None
    return [key.encode("ascii") for key in keys]
