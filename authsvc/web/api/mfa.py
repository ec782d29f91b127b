"""Second factors over HTTP: enrol, confirm and remove TOTP, new recovery codes, see what is enrolled, and the login's
second step."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_fields
from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.devices import DeviceCookies
from authsvc.web.edge.guards import client_info, current, login_required
from authsvc.web.edge.login_finish import LoginFinish
from authsvc.web.edge.pending_cookie import PendingLoginCookie
from authsvc.web.edge.views import login_body


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
) -> web.Response:
    fields = await read_fields(request, "enrolmentToken", "code")
    codes = await mfa.confirm_totp(current(request), fields["enrolmentToken"], fields["code"])
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@login_required
@inject
async def remove_totp(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    await mfa.remove_totp(current(request), fields["password"], fields.get("code"), client_info(request, devices))
    return web.json_response({"msg": "TOTP removed; every other session has ended"})


@login_required
@inject
async def regenerate_recovery_codes(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
) -> web.Response:
    fields = await read_fields(request, "password", optional=("code",))
    me = current(request)
    codes = await mfa.regenerate_recovery_codes(
        me, fields["password"], fields.get("code"), client_info(request, devices)
    )
    return web.json_response({"recoveryCodes": codes}, headers={"Cache-Control": "no-store"})


@inject
async def login_second_factor(
    request: web.Request,
    mfa: MfaService = Provide[WebContainer.mfa_service],
    cookies: SessionCookies = Provide[WebContainer.session_cookies],
    pending: PendingLoginCookie = Provide[WebContainer.pending_login_cookie],
    devices: DeviceCookies = Provide[WebContainer.device_cookies],
    finish: LoginFinish = Provide[WebContainer.login_finish],
) -> web.StreamResponse:
    fields = await read_fields(request, "code")
    previous = cookies.read(request)
    client = client_info(request, devices)
    user, session_id = await mfa.complete_login(
        pending.read(request), fields["code"], client, previous.session_id if previous else None
    )
    return await finish(request, web.json_response(login_body(user)), client, user, session_id)
