"""Like Nest's AuthModule routes: login, logout and the protected route with the tutorial's JSON shapes; the
caller's sessions and account; forward-auth for gateways and introspection for internal services."""

from __future__ import annotations

import functools
import logging
from urllib.parse import quote

from aiohttp import hdrs, web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.cookies import SessionCookies
from authsvc.auth.devices import DeviceCookies
from authsvc.auth.factors import SecondFactorRequired
from authsvc.auth.guards import SERVICE, SESSION_REQUIRED, SessionGuard, client_info, current, login_required
from authsvc.auth.login_finish import LoginFinish
from authsvc.auth.mfa import MfaService
from authsvc.auth.pending_cookie import SECOND_FACTOR_REQUIRED, PendingLoginCookie
from authsvc.auth.service import AuthService
from authsvc.auth.views import login_body, session_view, user_view
from authsvc.bodies import read_fields
from authsvc.config import GatewaySettings, ServerSettings, Settings
from authsvc.containers import Container
from authsvc.errors import NotFound, Unauthorized
from authsvc.mail.service import AccountMail
from authsvc.middlewares import csrf_checked, csrf_exempt, gateway_check, peer_is_trusted
from authsvc.users.models import User

audit = logging.getLogger("authsvc.audit")


@inject
async def login(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    cookies: SessionCookies = Provide[Container.session_cookies],
    devices: DeviceCookies = Provide[Container.device_cookies],
    pending: PendingLoginCookie = Provide[Container.pending_login_cookie],
    finish: LoginFinish = Provide[Container.login_finish],
) -> web.StreamResponse:
    fields = await read_fields(request, "username", "password")
    previous = cookies.read(request)
    client = client_info(request, devices)
    try:
        user, session_id = await auth.login(
            fields["username"],
            fields["password"],
            client,
            previous.session_id if previous else None,
        )
    except SecondFactorRequired as required:
        response = web.json_response({"msg": SECOND_FACTOR_REQUIRED, "mfa": {"methods": required.methods}})
        pending.start(response, required)
        return response
    return await finish(request, web.json_response(login_body(user)), client, user, session_id)


@csrf_checked
@inject
async def logout(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    cookies: SessionCookies = Provide[Container.session_cookies],
) -> web.Response:
    for ids in cookies.read_all(request):  # a planted second cookie must not keep the real session alive
        await auth.logout(ids.session_id)
    await cookies.clear(request)
    return web.json_response({"msg": "The user session has ended"})


@login_required
async def protected(request: web.Request) -> web.Response:
    return web.json_response(user_view(current(request).user))


@functools.lru_cache(maxsize=10_000)  # a gateway asks about the same few users again and again
def _header_safe(value: str) -> str:
    # New names are ASCII by rule; a legacy tutorial name may hold anything, so it is percent-encoded.
    return quote(value, safe="@._-+")


@gateway_check
@inject
async def verify(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    settings: Settings = Provide[Container.settings],
) -> web.Response:
    """Forward-auth for nginx auth_request, Traefik ForwardAuth and Envoy ext_authz: 200 with who, or 401."""
    return await check_session(request, guard, settings)


async def check_session(request: web.Request, guard: SessionGuard, settings: Settings) -> web.Response:
    """verify's answer; the gateway's fast path calls it with the same collaborators, bound once."""
    authenticated = await guard.authenticate(request, touch=settings.session.verify_renews)
    if authenticated is None:
        raise Unauthorized(SESSION_REQUIRED)
    return _identity(authenticated.user, settings.gateway)


def _identity(user: User, gateway: GatewaySettings) -> web.Response:
    return web.Response(
        headers={gateway.user_id_header: user.id, gateway.user_name_header: _header_safe(user.username)}
    )


def _original_url(request: web.Request, server: ServerSettings) -> str | None:
    """The URL the browser asked the gateway for, from X-Forwarded-Proto/-Host/-Uri of a trusted proxy only."""
    if not peer_is_trusted(request, server.trusted_proxies):
        return None
    headers = request.headers
    proto = headers.get("X-Forwarded-Proto", request.scheme).lower()
    host, uri = headers.get("X-Forwarded-Host"), headers.get("X-Forwarded-Uri", "/")
    if proto not in ("http", "https") or not host or not uri.startswith("/"):
        return None
    return f"{proto}://{host}{uri}"


@gateway_check
@inject
async def forward_auth(
    request: web.Request,
    guard: SessionGuard = Provide[Container.session_guard],
    settings: Settings = Provide[Container.settings],
) -> web.Response:
    """Traefik ForwardAuth and Caddy forward_auth: like verify, but a browser without a session is sent to the
    login page with the URL it asked for (the portal decides whether it may go back there); others get 401."""
    return await check_or_send_to_login(request, guard, settings)


async def check_or_send_to_login(request: web.Request, guard: SessionGuard, settings: Settings) -> web.Response:
    """forward_auth's answer; the gateway's fast path calls it with the same collaborators, bound once."""
    authenticated = await guard.authenticate(request, touch=settings.session.verify_renews)
    if authenticated is not None:
        return _identity(authenticated.user, settings.gateway)
    if "text/html" not in request.headers.get(hdrs.ACCEPT, ""):
        raise Unauthorized(SESSION_REQUIRED)
    portal = settings.server.public_url or f"{request.scheme}://{request.host}"
    original = _original_url(request, settings.server)
    location = f"{portal}/login" + (f"?rd={quote(original, safe='')}" if original else "")
    return web.Response(status=302, headers={hdrs.LOCATION: location})


@login_required
async def whoami(request: web.Request) -> web.Response:
    authenticated = current(request)
    return web.json_response({"user": user_view(authenticated.user), "session": session_view(authenticated.session)})


@login_required
@inject
async def list_sessions(request: web.Request, auth: AuthService = Provide[Container.auth_service]) -> web.Response:
    me = current(request)
    sessions = []
    for record in await auth.list_sessions(me.user.id):
        view = session_view(record)
        view.update(ip=record.ip or "", userAgent=record.user_agent or "")
        sessions.append({**view, "current": record.id_hash == me.session.id_hash})
    return web.json_response({"sessions": sessions})


@login_required
@inject
async def revoke_session(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    cookies: SessionCookies = Provide[Container.session_cookies],
) -> web.Response:
    me = current(request)
    handle = request.match_info["id"]
    if not await auth.revoke_session(me.user.id, handle):
        raise NotFound("No such session.")
    if handle == me.session.handle:
        await cookies.clear(request)
    return web.json_response({"msg": "The session has ended"})


@login_required
@inject
async def revoke_other_sessions(
    request: web.Request, auth: AuthService = Provide[Container.auth_service]
) -> web.Response:
    count = await auth.revoke_other_sessions(current(request))
    return web.json_response({"msg": "Every other session has ended", "revoked": count})


@login_required
@inject
async def change_password(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    devices: DeviceCookies = Provide[Container.device_cookies],
    mfa: MfaService = Provide[Container.mfa_service],
    mail: AccountMail = Provide[Container.account_mail],
) -> web.Response:
    fields = await read_fields(request, "currentPassword", "newPassword", optional=("code",))
    client = client_info(request, devices)
    await mfa.check_recent_proof(current(request), fields["currentPassword"], fields.get("code"), client)
    changed = await auth.change_password(current(request), fields["currentPassword"], fields["newPassword"], client)
    devices.issue(request, changed)  # this browser proved the password: still a known device under the new generation
    await mail.password_changed(changed)  # after the change: no mail for a change that failed
    return web.json_response({"msg": "Password changed; every other session has ended"})


@login_required
@inject
async def delete_account(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    cookies: SessionCookies = Provide[Container.session_cookies],
    devices: DeviceCookies = Provide[Container.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password")
    await auth.delete_account(current(request), fields["password"], client_info(request, devices))
    await cookies.clear(request)
    return web.json_response({"msg": "The account has been deleted"})


@csrf_exempt
@inject
async def introspect(
    request: web.Request,
    auth: AuthService = Provide[Container.auth_service],
    cookies: SessionCookies = Provide[Container.session_cookies],
) -> web.Response:
    """RFC 7662-style: is this cookie value a live session, and whose? For services holding a cookie value.

    Served in the internal sub-application, whose middleware has checked the service token.
    """
    fields = await read_fields(request, "session")
    ids = cookies.session_ids(fields["session"])
    authenticated = await auth.authenticate(*ids, touch=False) if ids else None
    audit.info("session introspected", extra={"event": "introspect", "service": request[SERVICE]})
    if authenticated is None:
        return web.json_response({"active": False})
    record, user = authenticated.session, authenticated.user
    return web.json_response(
        {
            "active": True,
            "user": user_view(user),
            "sub": user.id,
            "sid": record.handle,
            "iat": int(record.created_at),
            "exp": int(record.expires_at),
        }
    )
