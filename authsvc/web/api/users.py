"""Like Nest's UsersController: sign-up, with the tutorial's JSON shape."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.deadline import follow_up
from authsvc.mail.service import AccountMail
from authsvc.users.service import UsersService
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_fields
from authsvc.web.edge.views import user_view

routes = web.RouteTableDef()


@routes.post("/users/signup")
@inject
async def signup(
    request: web.Request,
    users: UsersService = Provide[WebContainer.users_service],
    mail: AccountMail = Provide[WebContainer.account_mail],
) -> web.Response:
    fields = await read_fields(request, "username", "password", optional=("email",))
    if (email := fields.get("email")) is not None:  # refused before the user exists, not after
        await mail.ensure_free(mail.check_address(email))
    user = await users.signup(fields["username"], fields["password"], request.remote)
    if email is not None:  # the account is made: an outage now leaves it without the address, never answers 503
        await follow_up("the address of a new account", mail.set_address(user, email), user_id=user.id)
    return web.json_response({"msg": "User successfully registered", **user_view(user)}, status=201)
