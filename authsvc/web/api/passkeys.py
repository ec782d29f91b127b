"""Passkeys over HTTP: register, list and remove them; use one as the login's second step or to sign in without a
password. Options are JSON for navigator.credentials.create/get; answers carry the browser's credential as is."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.auth.passkeys import PasskeyService
from authsvc.login.flow import LoginFlow
from authsvc.login.strategies import PasskeyProof, PasswordlessProof
from authsvc.web.api.bodies import FactorProof, PasskeyAssertion, PasskeyRegistration
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.caller import caller
from authsvc.web.edge.guards import current, login_required
from authsvc.web.edge.logins import login_edge
from authsvc.web.edge.middlewares import client_address
from authsvc.web.edge.views import login_view, passkey_view

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
    body = await read_body(request, FactorProof)
    client = caller(request).client
    options = await mfa.passkey_registration_options(current(request), body.password, body.code, client)
    return web.json_response(options, headers=NO_STORE)


@routes.post("/users/me/webauthn/register")
@login_required
@inject
async def register(
    request: web.Request,
    passkeys: PasskeyService = Provide[WebContainer.passkey_service],
) -> web.Response:
    body = await read_body(request, PasskeyRegistration)
    passkey = await passkeys.register(current(request), body.name, body.credential)
    return web.json_response(passkey_view(passkey), status=201)


@routes.delete("/users/me/webauthn/{id}")
@login_required
@inject
async def remove_passkey(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    body = await read_body(request, FactorProof)
    client = caller(request).client
    await mfa.remove_passkey(current(request), request.match_info["id"], body.password, body.code, client)
    return web.json_response({"msg": "Passkey removed; every other session has ended"})


@routes.post("/users/login/mfa/webauthn/options")
@inject
async def second_factor_options(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.Response:
    edge = login_edge(request)
    return web.json_response(await flow.second_step_challenge(edge.pending(request)), headers=NO_STORE)


@routes.post("/users/login/mfa/webauthn")
@inject
async def login_second_factor(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.StreamResponse:
    edge = login_edge(request)
    credential = (await read_body(request, PasskeyAssertion)).credential
    proof, client = PasskeyProof(credential), edge.client(request)
    outcome = await flow.second_step(edge.pending(request), proof, client, edge.previous_id(request))
    return await edge.answer(request, web.json_response(login_view(outcome)), outcome)


@routes.post("/users/login/webauthn/options")
@inject
async def passwordless_options(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.Response:
    edge = login_edge(request)
    nonce = edge.new_nonce()
    options = await flow.passwordless_challenge(nonce, client_address(request))
    response = web.json_response(options, headers=NO_STORE)
    edge.start_challenge(response, nonce)
    return response


@routes.post("/users/login/webauthn")
@inject
async def login_passwordless(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.StreamResponse:
    edge = login_edge(request)
    credential = (await read_body(request, PasskeyAssertion)).credential
    proof, client = PasswordlessProof(credential, edge.nonce(request)), edge.client(request)
    outcome = await flow.login(proof, client, edge.previous_id(request))
    return await edge.answer(request, web.json_response(login_view(outcome)), outcome)
