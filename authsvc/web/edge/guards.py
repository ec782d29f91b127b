"""Who is calling: the live session behind the cookie, checked at one point for every route that needs it.

A handler says it needs a logged-in caller with ``@login_required``, which wraps that handler only: the app's
SessionGuard authenticates before the handler runs and leaves the principal on the request (``current(request)``),
or answers 401; a page says ``@login_required(redirect="/login?rd=...")`` and a caller without a session is sent
there instead. Routes without it pay nothing for the guard; a page that shows either way asks ``signed_in``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast, overload

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from authsvc.auth.service import Authenticated, AuthService
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.errors import Unauthorized
from authsvc.web.edge.cookie_header import HasHeaders
from authsvc.web.edge.cookies import SessionCookies, SessionIds

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])

AUTHENTICATED = web.RequestKey("authenticated", Authenticated)
SESSION_CHECKED = web.RequestKey("session_checked", bool)  # asked once per request: a second ask touches nothing
SERVICE = web.RequestKey("service", str)  # the name of the internal service whose token a request carries
SESSION_REQUIRED = "A live session is required."


async def signed_in(request: web.Request) -> Authenticated | None:
    """The live session behind the request's cookie, or None; checked (and its cookie renewed) once per request."""
    if not request.get(SESSION_CHECKED):
        app = request.app  # the guard is the main app's; config_dict (a new ChainMapProxy a call) only for a sub-app's
        guard = app[SESSION_GUARD] if SESSION_GUARD in app else request.config_dict[SESSION_GUARD]
        authenticated = await guard.authenticate(request)
        request[SESSION_CHECKED] = True
        if authenticated is not None:
            request[AUTHENTICATED] = authenticated
    return request.get(AUTHENTICATED)


async def require_session(request: web.Request) -> Authenticated:
    """The live session behind the request's cookie, or 401; what @login_required runs before its handler."""
    authenticated = await signed_in(request)
    if authenticated is None:
        raise Unauthorized(SESSION_REQUIRED)
    return authenticated


def wraps(wrapper: Callable[[web.Request], Awaitable[web.StreamResponse]], handler: H) -> H:
    """wrapper with handler's name and route marks, but no __wrapped__: dependency-injector's wiring would read the
    handler's markers through it and inject them into this one-argument wrapper."""
    functools.update_wrapper(wrapper, handler, updated=())
    delattr(wrapper, "__wrapped__")
    wrapper.__dict__.update({k: v for k, v in vars(handler).items() if k.startswith("__authsvc_")})
    return cast(H, wrapper)


Redirect = str | Callable[[web.Request], str]  # where a page sends a signed-out browser: fixed, or from the request


@overload
def login_required(handler: H) -> H: ...
@overload
def login_required(*, redirect: Redirect) -> Callable[[H], H]: ...
def login_required(handler: H | None = None, *, redirect: Redirect | None = None) -> H | Callable[[H], H]:
    """The route answers only a caller with a live session: the app's SessionGuard checks before the handler runs.
    Without one: 401, or for a page (redirect=...: a URL, or a function of the request giving one) a 303 to the
    sign-in page, which brings the browser back."""

    def guard(handler: H) -> H:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if redirect is not None and await signed_in(request) is None:
                location = redirect if isinstance(redirect, str) else redirect(request)
                return web.Response(status=303, headers={hdrs.LOCATION: location})
            request[AUTHENTICATED] = await require_session(request)
            return await handler(request)

        return wraps(guarded, handler)

    return guard(handler) if handler is not None else guard


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
