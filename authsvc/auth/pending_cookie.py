"""The cookie of a login that waits for its second factor: a sealed, short-lived token, never a session.

A cookie of its own name, so nothing that reads the session cookie (guards, /auth/verify, introspection) can take
it for a session.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web

from authsvc.auth.cookies import EXPIRED
from authsvc.auth.factors import PendingLogins, SecondFactorRequired
from authsvc.config import SessionSettings

SECOND_FACTOR_REQUIRED = "Second factor required"


class PendingLoginCookie:
    def __init__(self, codec: PendingLogins, settings: SessionSettings) -> None:
        name = f"{settings.cookie_name}_mfa"
        self.name = f"__Host-{name}" if settings.host_prefix else name
        self._codec = codec
        # Strict: only the login pages of this very site post the second step.
        self._params: dict[str, Any] = {"path": "/", "secure": bool(settings.secure), "httponly": True}
        self._params["samesite"] = "Strict"

    def read(self, request: web.Request) -> str | None:
        """The pending-login token, or None when there is none or more than one (a planted second one from a
        sibling domain or plain HTTP makes the step fail rather than choosing between them, as the session does)."""
        values = []
        for header in request.headers.getall(hdrs.COOKIE, []):
            for part in header.split(";"):
                name, _, value = part.strip().partition("=")
                if name == self.name:
                    values.append(value.strip().strip('"'))
        return values[0] if len(values) == 1 else None

    def start(self, response: web.StreamResponse, required: SecondFactorRequired) -> None:
        """Set the cookie of a new pending login for the user whose password was right."""
        token = self._codec.issue(required.user.id, required.remember)
        response.set_cookie(self.name, token, max_age=self._codec.lifetime, **self._params)

    def clear(self, response: web.StreamResponse) -> None:
        response.set_cookie(self.name, "", max_age=0, expires=EXPIRED, **self._params)
