"""Who is calling: the live session behind the cookie, checked at one point for every route that needs it.

A handler says it needs a logged-in caller with ``@login_required``, which wraps that handler only: the app's
SessionGuard authenticates before the handler runs and leaves the principal on the request (``current(request)``),
or answers 401. Routes without it pay nothing for the guard.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from authsvc.auth.service import Authenticated, AuthService, ClientInfo
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.errors import Unauthorized
from authsvc.web.edge.cookie_header import HasHeaders
from authsvc.web.edge.cookies import SessionCookies, SessionIds
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.middlewares import client_address

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])

AUTHENTICATED = web.RequestKey("authenticated", Authenticated)
SERVICE = web.RequestKey("service", str)  # the name of the internal service whose token a request carries
SESSION_REQUIRED = "A live session is required."


async def require_session(request: web.Request) -> Authenticated:
    """The live session behind the request's cookie, or 401; what @login_required runs before its handler."""
    authenticated = await request.app[SESSION_GUARD].authenticate(request)
    if authenticated is None:
        raise Unauthorized(SESSION_REQUIRED)
    return authenticated


def login_required(handler: H) -> H:
    """The route answers only a caller with a live session: the app's SessionGuard checks before the handler runs."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        request[AUTHENTICATED] = await require_session(request)
        return await handler(request)

    # Name and route marks, but no __wrapped__: dependency-injector's wiring would read the handler's Provide[...]
    # defaults through it and inject them into this one-argument wrapper.
    functools.update_wrapper(guarded, handler, updated=())
    delattr(guarded, "__wrapped__")
    guarded.__dict__.update({k: v for k, v in vars(handler).items() if k.startswith("__authsvc_")})
    return cast(H, guarded)


def client_info(request: web.Request, devices: DeviceCookies) -> ClientInfo:
    """Who is asking, as the services see it: address, user agent, and what the device cookie vouches for."""
    return ClientInfo(
        ip=client_address(request), user_agent=request.headers.get(hdrs.USER_AGENT), device=devices.read(request)
    )


def current(request: web.Request) -> Authenticated:
    """The principal of a @login_required route."""
    return request[AUTHENTICATED]


class SessionGuard:
    def __init__(self, auth: AuthService, cookies: SessionCookies) -> None:
        self._auth = auth
        self._cookies = cookies

    async def authenticate(self, request: web.Request, *, touch: bool = True) -> Authenticated | None:
        authenticated, renew = await self.check(request, touch=touch)
        if renew is not None:
            await self._cookies.renew(request, renew)
        return authenticated

    async def check(self, request: HasHeaders, *, touch: bool = True) -> tuple[Authenticated | None, SessionIds | None]:
        """The live session behind the request's cookie, and its ids when its cookie is due to be re-issued (which
        the caller does: aiohttp-session's way, or the gateway listener's)."""
        ids = self._cookies.read(request)
        if ids is None:
            return None, None
        authenticated = await self._auth.authenticate(*ids, touch=touch)
        return authenticated, ids if authenticated is not None and authenticated.renewed else None


SESSION_GUARD = web.AppKey("session_guard", SessionGuard)  # create_app puts the container's guard here


def service_token_middleware(tokens: ServiceTokens) -> Middleware:
    """For the internal sub-application: every request presents a service token, or answers 401."""

    @web.middleware
    async def service_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        service = tokens.identify(request.headers.get("Authorization"))
        if service is None:
            raise Unauthorized("A valid service token is required.", headers={"WWW-Authenticate": "Bearer"})
        request[SERVICE] = service
        return await handler(request)

    return service_token
