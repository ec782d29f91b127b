"""Who is calling: the live session behind the cookie, or a 401."""

from __future__ import annotations

from aiohttp import hdrs, web
from aiohttp_session import STORAGE_KEY, get_session

from authsvc.auth.cookies import SessionCookieStorage
from authsvc.auth.service import Authenticated, AuthService
from authsvc.errors import Unauthorized


def session_ids(request: web.Request) -> tuple[str, str] | None:
    """The (session id, user id) pair the session cookie carries, if it carries one."""
    storage: SessionCookieStorage = request[STORAGE_KEY]
    return storage.session_ids(storage.value_in(request.headers.get(hdrs.COOKIE)))


async def authenticate(request: web.Request, auth: AuthService, *, touch: bool = True) -> Authenticated | None:
    ids = session_ids(request)
    if ids is None:
        return None
    authenticated = await auth.authenticate(*ids, touch=touch)
    if authenticated is not None and authenticated.renewed:
        (await get_session(request)).changed()  # re-issue the cookie with a fresh max age
    return authenticated


async def require_user(request: web.Request, auth: AuthService) -> Authenticated:
    authenticated = await authenticate(request, auth)
    if authenticated is None:
        raise Unauthorized("A live session is required.")
    return authenticated
