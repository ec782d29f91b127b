"""The session cookie: aiohttp-session's encrypted cookie, with key rotation and a complete deletion."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


class SessionCookieStorage(EncryptedCookieStorage):
    """EncryptedCookieStorage that encrypts with the first key and decrypts with any (it refuses a MultiFernet)."""

    def __init__(self, keys: list[bytes], **cookie_params: Any) -> None:
        super().__init__(Fernet(keys[0]), **cookie_params)
        self._fernet = MultiFernet([Fernet(key) for key in keys])  # type: ignore[assignment]

    def decode(self, value: str) -> dict[str, Any] | None:
        """The session data a cookie value carries, or None when it is forged, expired or not ours."""
        try:
            data = json.loads(self._fernet.decrypt(value.encode("utf-8"), ttl=self.max_age))
        except (InvalidToken, ValueError):
            return None
        session = data.get("session") if isinstance(data, dict) else None
        return session if isinstance(session, dict) else None

    def save_cookie(self, response: web.StreamResponse, cookie_data: str, *, max_age: int | None = None) -> None:
        if cookie_data:
            super().save_cookie(response, cookie_data, max_age=max_age)
            return
        # aiohttp's del_cookie drops Secure/SameSite, and browsers ignore a __Host- deletion without Secure.
        params: dict[str, Any] = {**self._cookie_params, "max_age": 0, "expires": EXPIRED}
        response.set_cookie(self.cookie_name, "", **params)


def build_cookie_storage(
    keys: list[bytes], cookie_name: str, host_prefix: bool, secure: bool, idle_timeout: int
) -> SessionCookieStorage:
    return SessionCookieStorage(
        keys,
        cookie_name=f"__Host-{cookie_name}" if host_prefix else cookie_name,
        max_age=idle_timeout,
        path="/",
        secure=secure,
        httponly=True,
        samesite="Lax",
    )
