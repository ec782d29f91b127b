"""Like Nest's UsersController: sign-up, with the tutorial's JSON shape."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.views import user_view
from authsvc.bodies import read_fields
from authsvc.containers import Container
from authsvc.users.service import UsersService


@inject
async def signup(request: web.Request, users: UsersService = Provide[Container.users_service]) -> web.Response:
    fields = await read_fields(request, "username", "password")
    user = await users.signup(fields["username"], fields["password"], request.remote)
    return web.json_response({"msg": "User successfully registered", **user_view(user)}, status=201)
