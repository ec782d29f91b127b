"""Like Nest's AuthModule routes: login and logout, with the tutorial's JSON shapes."""

from __future__ import annotations

import logging
from urllib.parse import quote

from aiohttp import web
from aiohttp_session import get_session, new_session
from dependency_injector.wiring import Provide, inject

from authsvc.auth.cookies import SessionCookieStorage
from authsvc.auth.guards import authenticate, require_user, session_ids
from authsvc.auth.service import AuthService, ClientInfo
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.auth.views import ForwardAuthPolicy, session_view
from authsvc.bodies import read_fields
from authsvc.errors import NotFound, Unauthorized

audit = logging.getLogger("authsvc.audit")


def client_info(request: web.Request) -> ClientInfo:
    return ClientInfo(ip=request.remote, user_agent=request.headers.get("User-Agent"))


@inject
async def login(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    fields = await read_fields(request, "username", "password")
    previous = session_ids(request)
    user, session_id = await auth.login(fields["username"], fields["password"], client_info(request))
    if previous is not None:
        await auth.logout(previous[0])  # the browser's old session ends with the new login
    session = await new_session(request)  # a fresh cookie: a planted one never becomes the logged-in one
    session["sid"] = session_id
    session["uid"] = user.id
    return web.json_response({"User": {"userId": user.id, "userName": user.username}, "msg": "User logged in"})


@inject
async def logout(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    ids = session_ids(request)
    if ids is not None:
        await auth.logout(ids[0])
    (await get_session(request)).invalidate()
    return web.json_response({"msg": "The user session has ended"})


def _header_safe(value: str) -> str:
    # New names are ASCII by rule; a legacy tutorial name may hold anything, so it is percent-encoded.
    return quote(value, safe="@._-+")


@inject
async def verify(
    request: web.Request,
    auth: AuthService = Provide["auth_service"],
    policy: ForwardAuthPolicy = Provide["forward_auth_policy"],
) -> web.Response:
    """Forward-auth for nginx auth_request, Traefik ForwardAuth and Envoy ext_authz: 200 with who, or 401."""
    authenticated = await authenticate(request, auth, touch=policy.renews)
    if authenticated is None:
        raise Unauthorized("A live session is required.")
    user = authenticated.user
    return web.Response(headers={policy.user_id_header: user.id, policy.user_name_header: _header_safe(user.username)})


@inject
async def whoami(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    authenticated = await require_user(request, auth)
    user = authenticated.user
    return web.json_response(
        {"user": {"userId": user.id, "userName": user.username}, "session": session_view(authenticated.session)}
    )


@inject
async def introspect(
    request: web.Request,
    auth: AuthService = Provide["auth_service"],
    tokens: ServiceTokens = Provide["service_tokens"],
    cookies: SessionCookieStorage = Provide["cookie_storage"],
    enabled: bool = Provide["config.introspection.enabled"],
) -> web.Response:
    """RFC 7662-style: is this cookie value a live session, and whose? For services holding a cookie value."""
    if not enabled:
        raise NotFound()
    service = tokens.identify(request.headers.get("Authorization"))
    if service is None:
        raise Unauthorized("A valid service token is required.", headers={"WWW-Authenticate": "Bearer"})
    fields = await read_fields(request, "session")
    ids = cookies.session_ids(fields["session"])
    authenticated = await auth.authenticate(*ids, touch=False) if ids else None
    audit.info("session introspected", extra={"event": "introspect", "service": service})
    if authenticated is None:
        return web.json_response({"active": False})
    record, user = authenticated.session, authenticated.user
    return web.json_response(
        {
            "active": True,
            "user": {"userId": user.id, "userName": user.username},
            "sub": user.id,
            "sid": record.handle,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
        }
    )
