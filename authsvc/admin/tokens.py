"""Admin tokens: kept as sha256 only, every one compared in constant time, each with a name and its scopes.

The settings hold only each token's digest (config.TokenDigest: hashed while the configuration is read), so no plain
token outlives start-up in the settings or here."""

from __future__ import annotations

import hashlib
import hmac

from authsvc.admin.models import AdminCaller
from authsvc.config import AdminToken


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


class AdminTokens:
    def __init__(self, tokens: list[AdminToken]) -> None:
        self._tokens = [
            (bytes.fromhex(token.token.sha256), AdminCaller(token.name, frozenset(token.scopes))) for token in tokens
        ]

    @property
    def configured(self) -> bool:
        return bool(self._tokens)

    def identify(self, authorization: str | None) -> AdminCaller | None:
        """The caller whose bearer token this is, or None."""
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            return None
        candidate = _digest(presented.strip().encode("utf-8", "surrogateescape"))
        found = None
        for digest, caller in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(candidate, digest):
                found = caller
        return found
