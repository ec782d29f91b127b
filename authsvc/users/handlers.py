"""Like Nest's UsersController: sign-up and the protected route, with the tutorial's JSON shapes."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.auth.guards import require_user
from authsvc.auth.service import AuthService
from authsvc.bodies import read_fields
from authsvc.users.service import UsersService


@inject
async def signup(request: web.Request, users: UsersService = Provide["users_service"]) -> web.Response:
    fields = await read_fields(request, "username", "password")
    user = await users.signup(fields["username"], fields["password"])
    return web.json_response(
        {"msg": "User successfully registered", "userId": user.id, "userName": user.username}, status=201
    )


@inject
async def protected(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    user = (await require_user(request, auth)).user
    return web.json_response({"userId": user.id, "userName": user.username})
