"""The cookies of logins in progress, never sessions: a login that waits for its second factor (a sealed,
short-lived token), and the browser that asked for a passwordless passkey challenge (a random nonce).

Each is a cookie of its own name, so nothing that reads the session cookie (guards, /auth/verify, introspection) can
take it for a session.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from authsvc.config import SessionSettings
from authsvc.login.outcomes import SecondFactorNeeded
from authsvc.web.edge.cookie_header import only_cookie
from authsvc.web.edge.cookies import EXPIRED


def _params(settings: SessionSettings) -> dict[str, Any]:
    # Strict: only the login pages of this very site post the next step.
    return {"path": "/", "secure": bool(settings.secure), "httponly": True, "samesite": "Strict"}


class PendingLoginCookie:
    def __init__(self, settings: SessionSettings) -> None:
        name = f"{settings.cookie_name}_mfa"
        self.name = f"__Host-{name}" if settings.host_prefix else name
        self._params = _params(settings)

    def read(self, request: web.Request) -> str | None:
        """The pending-login token, or None when there is none or more than one."""
        return only_cookie(request, self.name)

    def start(self, response: web.StreamResponse, waiting: SecondFactorNeeded) -> None:
        """Set the cookie of a new waiting login (the flow sealed its token) for the user whose password was right."""
        response.set_cookie(self.name, waiting.pending, max_age=waiting.lifetime, **self._params)

    def clear(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.name, "", max_age=0, expires=EXPIRED, **self._params)


class PasskeyChallengeCookie:
    """Binds a passwordless challenge to the browser that asked for it: the store keeps only the nonce's hash."""

    def __init__(self, settings: SessionSettings, lifetime: int) -> None:
        name = f"{settings.cookie_name}_wa"
        self.name = f"__Host-{name}" if settings.host_prefix else name
        self._lifetime = lifetime
        self._params = _params(settings)

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_urlsafe(24)

    def start(self, response: web.StreamResponse, nonce: str) -> None:
        response.set_cookie(self.name, nonce, max_age=self._lifetime, **self._params)

    def read(self, request: web.Request) -> str | None:
        return only_cookie(request, self.name)

    def clear(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.name, "", max_age=0, expires=EXPIRED, **self._params)
