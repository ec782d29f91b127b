"""Like Nest's UsersController: sign-up, with the tutorial's JSON shape."""

from __future__ import annotations

from aiohttp import web
from dependency_injector.wiring import Provide, inject

from authsvc.users.service import UsersService
from authsvc.web.api.bodies import SignupRequest
from authsvc.web.container import WebContainer
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.views import user_view

routes = web.RouteTableDef()


@routes.post("/users/signup")
@inject
async def signup(
    request: web.Request,
    users: UsersService = Provide[WebContainer.users_service],
) -> web.Response:
    body = await read_body(request, SignupRequest)
    user = await users.signup(body.username, body.password, request.remote, email=body.email)
    return web.json_response({"msg": "User successfully registered", **user_view(user)}, status=201)
