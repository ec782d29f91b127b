"""Passkeys over HTTP: register, list and remove them; use one as the login's second step or to sign in without a
password. Options are JSON for navigator.credentials.create/get; answers carry the browser's credential as is."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.auth.passkeys import PASSKEY_REFUSED, PasskeyService
from authsvc.errors import Unauthorized
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_ceremony, read_fields
from authsvc.web.edge.caller import Caller, caller
from authsvc.web.edge.guards import current, login_required
from authsvc.web.edge.login_finish import LoginFinish
from authsvc.web.edge.middlewares import client_address
from authsvc.web.edge.pending_cookie import PasskeyChallengeCookie, PendingLoginCookie
from authsvc.web.edge.views import login_body, passkey_view

NO_STORE = {"Cache-Control": "no-store"}
routes = web.RouteTableDef()


@routes.get("/users/me/webauthn")
@login_required
@inject
async def list_passkeys(
    request: web.Request, passkeys: PasskeyService = Provide[WebContainer.passkey_service]
) -> web.Response:
    found = await passkeys.list(current(request).user.id)
    return web.json_response({"passkeys": [passkey_view(passkey) for passkey in found]})


@routes.post("/users/me/webauthn/register/options")
@login_required
@inject
async def registration_options(
    request: web.Request, mfa: MfaService = Provide[WebContainer.mfa_service]
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    client = caller(request).client
    options = await mfa.passkey_registration_options(current(request), fields["password"], fields.get("code"), client)
    return web.json_response(options, headers=NO_STORE)


@routes.post("/users/me/webauthn/register")
@login_required
@inject
async def register(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
) -> web.Response:
    fields, credential = await read_ceremony(request, "name")
    passkey = await passkeys.register(current(request), fields["name"], credential)
    return web.json_response(passkey_view(passkey), status=201)


@routes.delete("/users/me/webauthn/{id}")
@login_required
@inject
async def remove_passkey(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    client = caller(request).client
    await mfa.remove_passkey(current(request), request.match_info["id"], fields["password"], fields.get("code"), client)
    return web.json_response({"msg": "Passkey removed; every other session has ended"})


async def _assertion(request: web.Request) -> tuple[dict[str, Any], Caller]:
    """A login's passkey answer: the credential, and who sends it (with the session it replaces, if any)."""
    _, credential = await read_ceremony(request)
    return credential, caller(request)


@routes.post("/users/login/mfa/webauthn/options")
@inject
async def second_factor_options(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    pending: PendingLoginCookie = Provide[WebContainer.pending_login_cookie],
) -> web.Response:
    return web.json_response(await mfa.passkey_options(pending.read(request)), headers=NO_STORE)


@routes.post("/users/login/mfa/webauthn")
@inject
async def login_second_factor(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    pending: PendingLoginCookie = Provide[WebContainer.pending_login_cookie],
    finish: LoginFinish = Provide[WebContainer.login_finish],
) -> web.StreamResponse:
    credential, who = await _assertion(request)
    client, previous_id = who.client, who.previous_id
    user, session_id = await mfa.complete_login_with_passkey(pending.read(request), credential, client, previous_id)
    return await finish(request, web.json_response(login_body(user)), client, user, session_id)


@routes.post("/users/login/webauthn/options")
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


@routes.post("/users/login/webauthn")
@inject
async def login_passwordless(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
    challenge_cookie: PasskeyChallengeCookie = Provide[WebContainer.passkey_challenge_cookie],
    finish: LoginFinish = Provide[WebContainer.login_finish],
) -> web.StreamResponse:
    credential, who = await _assertion(request)
    client, previous_id = who.client, who.previous_id
    nonce = challenge_cookie.read(request)
    if nonce is None:
        raise Unauthorized(PASSKEY_REFUSED)
    user, session_id = await passkeys.login(credential, nonce, client, previous_id)
    response = web.json_response(login_body(user))
    challenge_cookie.clear(response)
    return await finish(request, response, client, user, session_id)
