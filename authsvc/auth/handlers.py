"""Like Nest's AuthModule routes: login and logout, with the tutorial's JSON shapes."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session, new_session
from dependency_injector.wiring import Provide, inject

from authsvc.auth.guards import session_ids
from authsvc.auth.service import AuthService, ClientInfo
from authsvc.bodies import read_fields


def client_info(request: web.Request) -> ClientInfo:
    return ClientInfo(ip=request.remote, user_agent=request.headers.get("User-Agent"))


@inject
async def login(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    fields = await read_fields(request, "username", "password")
    previous = await session_ids(request)
    user, session_id = await auth.login(fields["username"], fields["password"], client_info(request))
    if previous is not None:
        await auth.logout(previous[0])  # the browser's old session ends with the new login
    session = await new_session(request)  # a fresh cookie: a planted one never becomes the logged-in one
    session["sid"] = session_id
    session["uid"] = user.id
    return web.json_response({"User": {"userId": user.id, "userName": user.username}, "msg": "User logged in"})


@inject
async def logout(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    ids = await session_ids(request)
    if ids is not None:
        await auth.logout(ids[0])
    (await get_session(request)).invalidate()
    return web.json_response({"msg": "The user session has ended"})
