"""The session cookie, in one place: read, issue, renew, clear.

aiohttp-session's middleware writes the cookie at the end of a request; this storage plugs into it through its public
hooks (``load_session``/``save_session``) and encrypts with every configured key (a MultiFernet: the first encrypts,
any decrypts, so keys rotate). Reading takes the measured fast path: the Cookie header is split rather than parsed,
and a cookie value is decrypted once, then served from a bounded cache. Like every cookie of authsvc, its name and
attributes are a web/edge/cookie_header.py Cookie, read from every Cookie header line, joined; aiohttp-session's
save_cookie writes its live value (with Expires), the Cookie clears it.

Handlers start and end the request's session with start_session() and end_session(): aiohttp-session finds this
storage on the request, so they need no instance.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from typing import Any, NamedTuple

from aiohttp import web
from aiohttp_session import SESSION_KEY, STORAGE_KEY, AbstractStorage, Session, SessionData, get_session, new_session
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from authsvc.config import SessionSettings
from authsvc.web.edge.cookie_header import Cookie, HasHeaders, cookie_header, cookie_values

DECODED_CACHE_SIZE = 10_000
# Raw Cookie headers remembered, and the longest remembered: at most ~4 MB however many a client makes up.
HEADER_CACHE_SIZE, HEADER_CACHE_MAX_CHARS = 4096, 1024
# A Fernet token is url-safe base64. Fernet's own decoder skips `!`, `*` or a backslash; we refuse them, so a session
# has exactly one cookie string and junk cannot flush the decoded-cookie cache.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class SessionIds(NamedTuple):
    session_id: str
    user_id: str


def _issued_at(token: str) -> int:
    """The timestamp inside a Fernet token (bytes 1-8, big-endian), read without decrypting."""
    return int(struct.unpack(">Q", base64.urlsafe_b64decode(token[:16].encode("ascii") + b"==")[1:9])[0])


class SessionCookies(AbstractStorage):
    def __init__(self, keys: list[bytes], settings: SessionSettings) -> None:
        self.cookie = Cookie(
            settings.cookie_name,
            secure=bool(settings.secure),
            samesite="Lax",
            max_age=settings.idle_timeout,
            host_prefix=settings.host_prefix,
            domain=settings.cookie_domain,
        )
        super().__init__(cookie_name=self.cookie.name, max_age=settings.idle_timeout, **self.cookie.params)
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        # cookie value -> (session id, user id, issued at): a cookie is decrypted once, not on every request
        self._decoded: dict[str, tuple[str, str, int]] = {}
        # raw Cookie header -> our cookie's value in it: a gateway sends the same header again and again
        self._values: dict[str, str | None] = {}

    # The facade the handlers and guards use.

    def read(self, request: HasHeaders) -> SessionIds | None:
        """The (session id, user id) the request's session cookie carries, or None (also when it sends two)."""
        return self.session_ids(self.value_in(cookie_header(request)))

    def read_all(self, request: HasHeaders) -> list[SessionIds]:
        """The ids of every session cookie of our name the request sends: logout ends each of them."""
        found = (self.session_ids(value) for value in self.values_in(cookie_header(request)))
        return [ids for ids in found if ids is not None]

    async def renew(self, request: web.Request, ids: SessionIds) -> None:
        """Re-issue the cookie of the session that was authenticated, with a fresh max age."""
        session = await get_session(request)
        session["sid"], session["uid"] = ids  # marks it changed: aiohttp-session writes the cookie afresh

    # What aiohttp-session's middleware does around a handler, for the gateway's fast path, which has no such layer:
    # renew() and clear() find this storage, and the cookie they changed is written on the way out.

    def attach(self, request: web.Request) -> None:
        request[STORAGE_KEY] = self

    async def write_changed(self, request: web.Request, response: web.StreamResponse) -> None:
        session = request.get(SESSION_KEY)
        if session is not None and session._changed:  # the middleware's own test (aiohttp-session has no public one)
            await self.save_session(request, response, session)

    def renew_on(self, response: web.StreamResponse, ids: SessionIds) -> None:
        """renew() and write_changed() in one, for the gateway listener, which has no aiohttp request: the same
        Set-Cookie on response."""
        session = Session(None, data={"created": int(time.time()), "session": {}}, new=False, max_age=self.max_age)
        session["sid"], session["uid"] = ids
        data = json.dumps({"created": session.created, "session": dict(session)})
        self.save_cookie(response, self._fernet.encrypt(data.encode("utf-8")).decode("ascii"), max_age=session.max_age)

    # The codec, also for callers that hold a cookie value (introspection).

    def values_in(self, header: str | None) -> list[str]:
        """Every value of our cookie in a Cookie header."""
        return cookie_values(header, self.cookie_name)

    def value_in(self, header: str | None) -> str | None:
        """Our cookie's value, or None when there is none or more than one: a planted second cookie of our name
        (from a sibling domain or plain HTTP) makes the request unauthenticated instead of choosing between them."""
        if not header:
            return None
        try:
            return self._values[header]
        except KeyError:
            pass
        values = self.values_in(header)
        value = values[0] if len(values) == 1 else None
        if len(header) <= HEADER_CACHE_MAX_CHARS:
            if len(self._values) >= HEADER_CACHE_SIZE:
                del self._values[next(iter(self._values))]  # the oldest entry
            self._values[header] = value
        return value

    def session_ids(self, value: str | None) -> SessionIds | None:
        """The ids a cookie value carries, or None; the hot path of every authenticated request."""
        if not value:
            return None
        if len(value) > 1 and value[0] == value[-1] == '"':
            value = value[1:-1]  # RFC 6265's quoted form, as cookie jars (requests') hand it over
        cached = self._decoded.get(value)
        if cached is None and not TOKEN_PATTERN.fullmatch(value):
            return None
        if cached is None:
            data = self._decode(value)
            session_id, user_id = (data or {}).get("sid"), (data or {}).get("uid")
            if not isinstance(session_id, str) or not isinstance(user_id, str):
                return None
            if len(self._decoded) >= DECODED_CACHE_SIZE:
                del self._decoded[next(iter(self._decoded))]  # the oldest entry
            cached = self._decoded[value] = (session_id, user_id, _issued_at(value))
        if self.max_age is not None and time.time() - cached[2] > self.max_age:
            del self._decoded[value]
            return None
        return SessionIds(cached[0], cached[1])

    def _decode(self, value: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._fernet.decrypt(value.encode("utf-8"), ttl=self.max_age))
        except (InvalidToken, ValueError):
            return None
        session = data.get("session") if isinstance(data, dict) else None
        return session if isinstance(session, dict) else None

    # aiohttp-session's hooks.

    def load_cookie(self, request: web.Request) -> str | None:
        return self.value_in(cookie_header(request))  # one parser for our cookie, everywhere

    async def load_session(self, request: web.Request) -> Session:
        ids = self.session_ids(self.load_cookie(request))
        if ids is None:
            return Session(None, data=None, new=True, max_age=self.max_age)
        data: SessionData = {"created": int(time.time()), "session": {"sid": ids.session_id, "uid": ids.user_id}}
        return Session(None, data=data, new=False, max_age=self.max_age)

    async def save_session(self, request: web.Request, response: web.StreamResponse, session: Session) -> None:
        if session.empty:
            self.cookie.clear(response)
            return
        data = json.dumps({"created": session.created, "session": dict(session)})
        self.save_cookie(response, self._fernet.encrypt(data.encode("utf-8")).decode("ascii"), max_age=session.max_age)


async def start_session(request: web.Request, ids: SessionIds) -> None:
    """A fresh session cookie for a new session, written on the way out: a planted one never becomes the logged-in
    one."""
    session = await new_session(request)
    session["sid"], session["uid"] = ids


async def end_session(request: web.Request) -> None:
    """The request's session cookie cleared on the way out (the session record is the caller's to end)."""
    (await get_session(request)).invalidate()
