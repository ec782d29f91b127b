"""Second factors over HTTP: enrol, confirm and remove TOTP, new recovery codes, see what is enrolled, and the login's
second step."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.login.flow import LoginFlow
from authsvc.login.strategies import CodeProof
from authsvc.web.api.bodies import Code, CurrentPassword, FactorProof, TotpConfirmation
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.caller import caller
from authsvc.web.edge.guards import current, login_required
from authsvc.web.edge.logins import login_edge
from authsvc.web.edge.views import login_view

routes = web.RouteTableDef()


@routes.get("/users/me/mfa")
@login_required
@inject
async def status(request: web.Request, mfa: MfaService = Provide[WebContainer.mfa_service]) -> web.Response:
    found = await mfa.status(current(request).user.id)
    return web.json_response(
        {"methods": found.methods, "pending": found.pending, "recoveryCodesLeft": found.recovery_codes_left}
    )


@routes.post("/users/me/mfa/totp")
@login_required
@inject
async def begin_totp(request: web.Request, mfa: MfaService = Provide[WebContainer.mfa_service]) -> web.Response:
    body = await read_body(request, CurrentPassword)
    enrolment = await mfa.begin_totp(current(request), body.password, caller(request).client)
    answer = {
        "secret": enrolment.secret,
        "otpauthUri": enrolment.otpauth_uri,
        "qrSvg": enrolment.qr_svg,
        "enrolmentToken": enrolment.token,
    }
    return web.json_response(answer, headers={"Cache-Control": "no-store"})


@routes.post("/users/me/mfa/totp/confirm")
@login_required
@inject
async def confirm_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    body = await read_body(request, TotpConfirmation)
    codes = await mfa.confirm_totp(current(request), body.enrolmentToken, body.code)
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@routes.delete("/users/me/mfa/totp")
@login_required
@inject
async def remove_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    body = await read_body(request, FactorProof)
    await mfa.remove_totp(current(request), body.password, body.code, caller(request).client)
    return web.json_response({"msg": "TOTP removed; every other session has ended"})


@routes.post("/users/me/mfa/recovery-codes")
@login_required
@inject
async def regenerate_recovery_codes(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    body = await read_body(request, FactorProof)
    me = current(request)
    codes = await mfa.regenerate_recovery_codes(me, body.password, body.code, caller(request).client)
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@routes.post("/users/login/mfa")
@inject
async def login_second_factor(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
) -> web.StreamResponse:
    edge = login_edge(request)
    body = await read_body(request, Code)
    proof, client = CodeProof(body.code), edge.client(request)
    outcome = await flow.second_step(edge.pending(request), proof, client, edge.previous_id(request))
    return await edge.answer(request, web.json_response(login_view(outcome)), outcome)
