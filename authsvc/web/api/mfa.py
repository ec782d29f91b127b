"""Second factors over HTTP: enrol, confirm and remove TOTP, new recovery codes, see what is enrolled, and the login's
second step."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.login.flow import LoginFlow
from authsvc.login.strategies import CodeProof
from authsvc.mail.service import AccountMail
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_fields
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.guards import client_info, current, login_required
from authsvc.web.edge.logins import LoginEdge
from authsvc.web.edge.views import login_view


@login_required
@inject
async def status(request: web.Request, mfa: MfaService = Provide[WebContainer.mfa_service]) -> web.Response:
    found = await mfa.status(current(request).user.id)
    return web.json_response(
        {"methods": found.methods, "pending": found.pending, "recoveryCodesLeft": found.recovery_codes_left}
    )


@login_required
@inject
async def begin_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password")
    enrolment = await mfa.begin_totp(current(request), fields["password"], client_info(request, devices))
    body = {
        "secret": enrolment.secret,
        "otpauthUri": enrolment.otpauth_uri,
        "qrSvg": enrolment.qr_svg,
        "enrolmentToken": enrolment.token,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


@login_required
@inject
async def confirm_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    mail: AccountMail = Provide[WebContainer.account_mail],
) -> web.Response:
    fields = await read_fields(request, "enrolmentToken", "code")
    codes = await mfa.confirm_totp(current(request), fields["enrolmentToken"], fields["code"])
    await mail.mfa_changed(current(request).user, "an authenticator app was added", added=True)  # after the change
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@login_required
@inject
async def remove_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
    mail: AccountMail = Provide[WebContainer.account_mail],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    await mfa.remove_totp(current(request), fields["password"], fields.get("code"), client_info(request, devices))
    await mail.mfa_changed(current(request).user, "the authenticator app was removed")  # after the change
    return web.json_response({"msg": "TOTP removed; every other session has ended"})


@login_required
@inject
async def regenerate_recovery_codes(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
    mail: AccountMail = Provide[WebContainer.account_mail],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    me = current(request)
    codes = await mfa.regenerate_recovery_codes(
        me, fields["password"], fields.get("code"), client_info(request, devices)
    )
    await mail.mfa_changed(me.user, "new recovery codes were made; the old ones no longer work")  # after the change
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@inject
async def login_second_factor(
    request: web.Request,
    flow: LoginFlow = Provide[WebContainer.login_flow],
    edge: LoginEdge = Provide[WebContainer.login_edge],
) -> web.StreamResponse:
    fields = await read_fields(request, "code")
    proof, client = CodeProof(fields["code"]), edge.client(request)
    outcome = await flow.second_step(edge.pending(request), proof, client, edge.previous_id(request))
    return await edge.answer(request, web.json_response(login_view(outcome)), outcome)
