"""Passkeys over HTTP: register, list and remove them; use one as the login's second step or to sign in without a
password. Options are JSON for navigator.credentials.create/get; answers carry the browser's credential as is."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.auth.passkeys import PASSKEY_REFUSED, PasskeyService
from authsvc.auth.service import ClientInfo
from authsvc.errors import Unauthorized
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_ceremony, read_fields
from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.guards import client_info, current, login_required
from authsvc.web.edge.login_finish import LoginFinish
from authsvc.web.edge.middlewares import client_address
from authsvc.web.edge.pending_cookie import PasskeyChallengeCookie, PendingLoginCookie
from authsvc.web.edge.views import login_body, passkey_view

NO_STORE = {"Cache-Control": "no-store"}


@login_required
@inject
async def list_passkeys(
    request: web.Request, passkeys: PasskeyService = Provide[WebContainer.passkey_service]
) -> web.Response:
    found = await passkeys.list(current(request).user.id)
    return web.json_response({"passkeys": [passkey_view(passkey) for passkey in found]})


@login_required
@inject
async def registration_options(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    client = client_info(request, devices)
    options = await mfa.passkey_registration_options(current(request), fields["password"], fields.get("code"), client)
    return web.json_response(options, headers=NO_STORE)


@login_required
@inject
async def register(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
) -> web.Response:
    fields, credential = await read_ceremony(request, "name")
    passkey = await passkeys.register(current(request), fields["name"], credential)
    return web.json_response(passkey_view(passkey), status=201)


@login_required
@inject
async def remove_passkey(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    client = client_info(request, devices)
    await mfa.remove_passkey(current(request), request.match_info["id"], fields["password"], fields.get("code"), client)
    return web.json_response({"msg": "Passkey removed; every other session has ended"})


async def _assertion(
    request: web.Request, cookies: SessionCookies, devices: DeviceCookies
) -> tuple[dict[str, Any], ClientInfo, str | None]:
    """A login's passkey answer: the credential, who sends it, and the session it replaces (if any)."""
    _, credential = await read_ceremony(request)
    previous = cookies.read(request)
    return credential, client_info(request, devices), previous.session_id if previous else None


@inject
async def second_factor_options(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    pending: PendingLoginCookie = Provide[WebContainer.pending_login_cookie],
) -> web.Response:
    return web.json_response(await mfa.passkey_options(pending.read(request)), headers=NO_STORE)


@inject
async def login_second_factor(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    cookies: SessionCookies = Provide[WebContainer.session_cookies],
    pending: PendingLoginCookie = Provide[WebContainer.pending_login_cookie],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
    finish: LoginFinish = Provide[WebContainer.login_finish],
) -> web.StreamResponse:
    credential, client, previous_id = await _assertion(request, cookies, devices)
    user, session_id = await mfa.complete_login_with_passkey(pending.read(request), credential, client, previous_id)
    return await finish(request, web.json_response(login_body(user)), client, user, session_id)


@inject
async def passwordless_options(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
    challenge_cookie: PasskeyChallengeCookie = Provide[WebContainer.passkey_challenge_cookie],
) -> web.Response:
    nonce = challenge_cookie.new_nonce()
    options = await passkeys.passwordless_options(nonce, client_address(request))
    response = web.json_response(options, headers=NO_STORE)
    challenge_cookie.start(response, nonce)
    return response


@inject
async def login_passwordless(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
    cookies: SessionCookies = Provide[WebContainer.session_cookies],
    challenge_cookie: PasskeyChallengeCookie = Provide[WebContainer.passkey_challenge_cookie],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
    finish: LoginFinish = Provide[WebContainer.login_finish],
) -> web.StreamResponse:
    credential, client, previous_id = await _assertion(request, cookies, devices)
    nonce = challenge_cookie.read(request)
    if nonce is None:
        raise Unauthorized(PASSKEY_REFUSED)
    user, session_id = await passkeys.login(credential, nonce, client, previous_id)
    response = web.json_response(login_body(user))
    challenge_cookie.clear(response)
    return await finish(request, response, client, user, session_id)
