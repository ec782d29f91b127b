"""The JSON routes of the mail flows: password reset, email address and its verification, "this was not me"."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.mail.service import AccountMail
from authsvc.web.api.bodies import EmailChange, ForgotPassword, MailToken, PasswordReset
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.caller import caller
from authsvc.web.edge.guards import current, login_required

NOT_ME_ANSWER = (
    "Every session of the account has ended; a link to choose a new password is on its way to the address this "
    "notice went to."
)
FORGOT_ANSWER = {"msg": "If the account has a verified email address, a link to reset the password is on its way."}

routes = web.RouteTableDef()


@routes.post("/users/password/forgot")
@inject
async def forgot_password(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    body = await read_body(request, ForgotPassword)
    await mail.forgot(username=body.username, email=body.email, ip=request.remote)
    return web.json_response(FORGOT_ANSWER, status=202)


@routes.post("/users/password/reset")
@inject
async def reset_password(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    body = await read_body(request, PasswordReset)
    await mail.reset(body.token, body.newPassword, request.remote)
    return web.json_response({"msg": "The password has been reset; every session has ended. Log in again."})


@routes.post("/users/me/email")
@login_required
@inject
async def set_email(request: web.Request, mfa: MfaService = Provide[WebContainer.mfa_service]) -> web.Response:
    body = await read_body(request, EmailChange)
    await mfa.change_address(current(request), body.email, body.password, body.code, caller(request).client)
    return web.json_response({"msg": "A link to verify the address is on its way to it."}, status=202)


@routes.post("/users/email/verify")
@inject
async def verify_email(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    body = await read_body(request, MailToken)
    await mail.verify_address(body.token)
    return web.json_response({"msg": "The email address is verified."})


@routes.post("/users/sessions/not-me")
@inject
async def not_me(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    body = await read_body(request, MailToken)
    await mail.not_me(body.token)
    return web.json_response({"msg": NOT_ME_ANSWER})
