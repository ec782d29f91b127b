"""Like Nest's UsersController: sign-up, with the tutorial's JSON shape."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

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
) -> web.Response:
    fields = await read_fields(request, "username", "password", optional=("email",))
    user = await users.signup(fields["username"], fields["password"], request.remote, email=fields.get("email"))
    return web.json_response({"msg": "User successfully registered", **user_view(user)}, status=201)
