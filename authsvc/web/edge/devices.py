"""The device cookie (OWASP "Slow Down Online Guessing Attacks with Device Cookies"), at the HTTP edge.

Set at every successful login and kept across logout, it names the user this browser logged in as, a random
device id and the user's revocation generation (after a remedy it vouches for nothing), encrypted and authenticated
with the session keys (a MultiFernet, so it survives key rotation like the session cookie). The login throttle lets a
browser holding one for the account skip the account-wide lock; what the cookie is worth to a thief is the
allowance of its device id, one client's.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from authsvc.config import SessionSettings, ThrottleSettings
from authsvc.throttle.rules import Device
from authsvc.users.models import User
from authsvc.web.edge.cookie_header import Cookie, HasHeaders

PURPOSE = "device"  # a session cookie, encrypted with the same keys, never passes for a device cookie
DEVICE_ID_BYTES = 16
ISSUE_FOR = web.RequestKey("device_cookie_for", User)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class DeviceCookies:
    def __init__(self, keys: list[bytes], session: SessionSettings, throttle: ThrottleSettings) -> None:
        # Strict: only a same-site login ever reads it.
        self.cookie = Cookie(
            throttle.device_cookie_name,
            secure=bool(session.secure),
            samesite="Strict",
            max_age=throttle.device_cookie_max_age,
            host_prefix=session.host_prefix,
        )
        self.name, self.max_age = self.cookie.name, throttle.device_cookie_max_age
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def read(self, request: HasHeaders) -> Device | None:
        """The device the request's device cookie vouches for, or None (absent, forged, expired)."""
        value = self.cookie.read(request)  # two (one planted): none vouches
        if not value:
            return None
        try:
            data = json.loads(self._fernet.decrypt(value.encode("utf-8"), ttl=self.max_age))
        except (InvalidToken, ValueError):
            return None
        if not isinstance(data, dict) or data.get("p") != PURPOSE:
            return None
        user_id, device_id, generation = data.get("u"), data.get("d"), data.get("g", 0)
        if not isinstance(user_id, str) or not isinstance(device_id, str) or type(generation) is not int:
            return None
        return Device(user_id, device_id, generation)

    def middleware(self) -> Middleware:
        """Writes the cookie remember_device() asked for. It wraps aiohttp-session's middleware, so the session cookie
        comes first among the Set-Cookie headers, where clients that read only one look."""

        @web.middleware
        async def device_cookie(request: web.Request, handler: Handler) -> web.StreamResponse:
            response = await handler(request)
            user = request.get(ISSUE_FOR)
            if user is not None:
                device_id = secrets.token_urlsafe(DEVICE_ID_BYTES)
                payload = {"p": PURPOSE, "u": user.id, "d": device_id, "g": user.generation}
                value = self._fernet.encrypt(json.dumps(payload).encode("utf-8")).decode("ascii")
                self.cookie.set(response, value)
            return response

        return device_cookie


def remember_device(request: web.Request, user: User) -> None:
    """A fresh device cookie for user (a new device id, a new lifetime) on this request's response, written by the
    middleware on the way out."""
    request[ISSUE_FOR] = user
