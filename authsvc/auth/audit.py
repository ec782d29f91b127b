"""Audit-log pseudonyms: a failed or throttled login names its target account by a keyed hash, never by the name."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets

from authsvc.config import ConfigError

log = logging.getLogger(__name__)


def load_audit_key(configured: str, env: str) -> bytes:
    """The configured key; development makes a throw-away one (pseudonyms then change at every restart)."""
    if configured:
        return configured.encode("utf-8")
    if env != "development":
        raise ConfigError("logging.audit_key: an audit key is required outside development (AUTHSVC_AUDIT_KEY)")
    log.warning("no audit key configured: using a throw-away key; audit pseudonyms will change at restart")
    return secrets.token_bytes(32)


class AccountPseudonyms:
    """hmac-sha256(audit key, username): lines about one account can be correlated, the name cannot be read back."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def of(self, username: str) -> str:
        return hmac.new(self._key, username.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]
