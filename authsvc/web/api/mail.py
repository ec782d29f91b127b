"""The JSON routes of the mail flows: password reset, email address and its verification, "this was not me"."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.mfa import MfaService
from authsvc.mail.service import AccountMail
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_fields
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
    fields = await read_fields(request, "username", "email", one_of=True)
    await mail.forgot(username=fields.get("username"), email=fields.get("email"), ip=request.remote)
    return web.json_response(FORGOT_ANSWER, status=202)


@routes.post("/users/password/reset")
@inject
async def reset_password(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    fields = await read_fields(request, "token", "newPassword")
    await mail.reset(fields["token"], fields["newPassword"], request.remote)
    return web.json_response({"msg": "The password has been reset; every session has ended. Log in again."})


@routes.post("/users/me/email")
@login_required
@inject
async def set_email(
    request: web.Request,
    mail: AccountMail = Provide[WebContainer.account_mail],
    mfa: MfaService = Provide[WebContainer.mfa_service],
) -> web.Response:
    fields = await read_fields(request, "email", "password", optional=("code",))
    me = current(request)
    mail.check_address(fields["email"])  # a typo costs no password attempt
    # The address receives reset links: the same proof as changing a factor, counted like a login.
    await mfa.prove(me, fields["password"], fields.get("code"), caller(request).client)
    await mail.set_address(me.user, fields["email"])
    return web.json_response({"msg": "A link to verify the address is on its way to it."}, status=202)


@routes.post("/users/email/verify")
@inject
async def verify_email(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    fields = await read_fields(request, "token")
    await mail.verify_address(fields["token"])
    return web.json_response({"msg": "The email address is verified."})


@routes.post("/users/sessions/not-me")
@inject
async def not_me(request: web.Request, mail: AccountMail = Provide[WebContainer.account_mail]) -> web.Response:
    fields = await read_fields(request, "token")
    await mail.not_me(fields["token"])
    return web.json_response({"msg": NOT_ME_ANSWER})
