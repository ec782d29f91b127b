"""The cookies of logins in progress, never sessions: a login that waits for its second factor (a sealed,
short-lived token), and the browser that asked for a passwordless passkey challenge (a random nonce).

Each is a cookie of its own name, so nothing that reads the session cookie (guards, /auth/verify, introspection) can
take it for a session.
"""

from __future__ import annotations

import secrets

from aiohttp import web

from authsvc.config import SessionSettings
from authsvc.login.outcomes import SecondFactorNeeded
from authsvc.web.edge.cookie_header import Cookie


def _cookie(settings: SessionSettings, suffix: str, lifetime: int | None = None) -> Cookie:
    # Strict: only the login pages of this very site post the next step.
    name = f"{settings.cookie_name}{suffix}"
    return Cookie(
        name, secure=bool(settings.secure), samesite="Strict", max_age=lifetime, host_prefix=settings.host_prefix
    )


class PendingLoginCookie:
    def __init__(self, settings: SessionSettings) -> None:
        self._cookie = _cookie(settings, "_mfa")  # its lifetime is the waiting login's
        self.name = self._cookie.name

    def read(self, request: web.Request) -> str | None:
        """The pending-login token, or None when there is none or more than one."""
        return self._cookie.read(request)

    def start(self, response: web.StreamResponse, waiting: SecondFactorNeeded) -> None:
        """Set the cookie of a new waiting login (the flow sealed its token) for the user whose password was right."""
        self._cookie.set(response, waiting.pending, max_age=waiting.lifetime)

    def clear(self, response: web.StreamResponse) -> None:
        self._cookie.clear(response)


class PasskeyChallengeCookie:
    """Binds a passwordless challenge to the browser that asked for it: the store keeps only the nonce's hash."""

    def __init__(self, settings: SessionSettings, lifetime: int) -> None:
        self._cookie = _cookie(settings, "_wa", lifetime)
        self.name = self._cookie.name

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def start(self, response: web.StreamResponse, nonce: str) -> None:
        self._cookie.set(response, nonce)

    def read(self, request: web.Request) -> str | None:
        return self._cookie.read(request)

    def clear(self, response: web.StreamResponse) -> None:
        self._cookie.clear(response)
