"""Like Nest's AuthModule routes: login, logout and the protected route with the tutorial's JSON shapes; the
caller's sessions and account; forward-auth for gateways and introspection for internal services."""

from __future__ import annotations

import logging

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.auth.service import AuthService
from authsvc.auth.service_tokens import ServiceTokens
from authsvc.errors import NotFound
from authsvc.login.flow import LoginFlow
from authsvc.login.strategies import PasswordProof
from authsvc.web.api.bodies import Credentials, CurrentPassword, IntrospectionRequest, PasswordChange
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.caller import caller
from authsvc.web.edge.cookies import SessionCookies, end_session
from authsvc.web.edge.devices import remember_device
from authsvc.web.edge.gate import gate
from authsvc.web.edge.guards import SERVICE, current, login_required, service_token_middleware
from authsvc.web.edge.logins import login_edge
from authsvc.web.edge.middlewares import csrf_checked, csrf_exempt, gateway_check
from authsvc.web.edge.views import login_view, session_view, user_view

audit = logging.getLogger("authsvc.audit")
routes = web.RouteTableDef()
internal_routes = web.RouteTableDef()  # the internal sub-application's: service tokens, not cookies
INTERNAL_AUTH = web.AppKey("internal_auth", AuthService)
INTERNAL_COOKIES = web.AppKey("internal_cookies", SessionCookies)


@routes.post("/users/login")
@inject
async def login(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.StreamResponse:
    edge = login_edge(request)
    body = await read_body(request, Credentials)
    proof = PasswordProof(body.username, body.password)
    outcome = await flow.login(proof, edge.client(request), edge.previous_id(request))
    return await edge.answer(request, web.json_response(login_view(outcome)), outcome)


@routes.get("/users/logout", allow_head=False)  # the tutorial's GET, kept for parity
@routes.post("/users/logout")
@csrf_checked
@inject
async def logout(request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]) -> web.Response:
    for ids in caller(request).sessions:  # a planted second cookie must not keep the real session alive
        await auth.logout(ids.session_id)
    await end_session(request)
    return web.json_response({"msg": "The user session has ended"})


@routes.get("/users/protected")
@login_required
async def protected(request: web.Request) -> web.Response:
    return web.json_response(user_view(current(request).user))


# Envoy ext_authz forwards the original method and appends the original path.
@routes.route("*", "/auth/verify{tail:(/(?s:.*))?}")
@gateway_check
async def verify(request: web.Request) -> web.Response:
    """Forward-auth for nginx auth_request, Traefik ForwardAuth and Envoy ext_authz: 200 with who, 401 or 403."""
    return await gate(request).verify(request)


@routes.get("/auth/forward-auth")
@gateway_check
async def forward_auth(request: web.Request) -> web.Response:
    """Traefik ForwardAuth and Caddy forward_auth: like verify, but a browser is sent to the portal (to sign in, or
    for a second factor) with the URL it asked for, or shown a short page when denied."""
    return await gate(request).forward_auth(request)


@routes.get("/auth/session")
@login_required
async def whoami(request: web.Request) -> web.Response:
    authenticated = current(request)
    user = {**user_view(authenticated.user), "groups": list(authenticated.user.groups)}
    return web.json_response({"user": user, "session": session_view(authenticated.session)})


@routes.get("/users/me/sessions")
@login_required
@inject
async def list_sessions(request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]) -> web.Response:
    me = current(request)
    sessions = []
    for record in await auth.list_sessions(me.user.id):
        view = session_view(record)
        view.update(ip=record.ip or "", userAgent=record.user_agent or "")
        sessions.append({**view, "current": record.id_hash == me.session.id_hash})
    return web.json_response({"sessions": sessions})


@routes.delete("/users/me/sessions/{id}")
@login_required
@inject
async def revoke_session(request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]) -> web.Response:
    me = current(request)
    handle = request.match_info["id"]
    if not await auth.revoke_session(me.user.id, handle):
        raise NotFound("No such session.")
    if handle == me.session.handle:
        await end_session(request)
    return web.json_response({"msg": "The session has ended"})


@routes.delete("/users/me/sessions")
@login_required
@inject
async def revoke_other_sessions(
    request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]
) -> web.Response:
    count = await auth.revoke_other_sessions(current(request))
    return web.json_response({"msg": "Every other session has ended", "revoked": count})


@routes.post("/users/me/password")
@login_required
@inject
async def change_password(
    request: web.Request,
    auth: AuthService = Provide[WebContainer.auth_service],
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    body = await read_body(request, PasswordChange)
    client = caller(request).client
    await mfa.check_recent_proof(current(request), body.currentPassword, body.code, client)
    changed = await auth.change_password(current(request), body.currentPassword, body.newPassword, client)
    remember_device(request, changed)  # this browser proved the password: still a known device under the new generation
    return web.json_response({"msg": "Password changed; every other session has ended"})


@routes.delete("/users/me")
@login_required
@inject
async def delete_account(request: web.Request, auth: AuthService = Provide[WebContainer.auth_service]) -> web.Response:
    body = await read_body(request, CurrentPassword)
    await auth.delete_account(current(request), body.password, caller(request).client)
    await end_session(request)
    return web.json_response({"msg": "The account has been deleted"})


@internal_routes.post("/sessions/introspect")
@csrf_exempt
async def introspect(request: web.Request) -> web.Response:
    """RFC 7662-style: is this cookie value a live session, and whose? For services holding a cookie value.

    Served in the internal sub-application, whose middleware has checked the service token.
    """
    auth, cookies = request.app[INTERNAL_AUTH], request.app[INTERNAL_COOKIES]
    body = await read_body(request, IntrospectionRequest)
    ids = cookies.session_ids(body.session)
    authenticated = await auth.authenticate(*ids, touch=False) if ids else None
    audit.info("session introspected", extra={"event": "introspect", "service": request[SERVICE]})
    if authenticated is None:
        return web.json_response({"active": False})
    record, user = authenticated.session, authenticated.user
    return web.json_response(
        {
            "active": True,
            "user": user_view(user),
            "groups": list(user.groups),
            "factors": list(record.factors),
            "sub": user.id,
            "sid": record.handle,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
        }
    )


def internal_app(tokens: ServiceTokens, auth: AuthService, cookies: SessionCookies) -> web.Application:
    """The sub-application create_app mounts at /internal/ while introspection is enabled: its callers are internal
    services, which present service tokens rather than browser cookies; its handlers find auth and the session codec
    on it."""
    internal = web.Application(middlewares=[service_token_middleware(tokens)])
    internal[INTERNAL_AUTH], internal[INTERNAL_COOKIES] = auth, cookies
    internal.add_routes(internal_routes)
    return internal
