"""Service tokens for the internal endpoints: each has a name for the logs, all compared in constant time."""

from __future__ import annotations

import hmac

from authsvc.config import ServiceToken


class ServiceTokens:
    def __init__(self, tokens: list[ServiceToken]) -> None:
        self._tokens = [(token.name, token.token.encode("utf-8")) for token in tokens]

    def identify(self, authorization: str | None) -> str | None:
        """The name of the service whose bearer token this is, or None."""
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return None
        candidate = presented.strip().encode("utf-8", "surrogateescape")
        found = None
        for name, token in self._tokens:  # no early exit: every token is compared
            if hmac.compare_digest(candidate, token):
                found = name
        return found
