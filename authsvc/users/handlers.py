"""Like Nest's UsersController: sign-up and the protected route, with the tutorial's JSON shapes."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import get_session
from dependency_injector.wiring import Provide, inject

from authsvc.auth.guards import require_user
from authsvc.auth.service import AuthService
from authsvc.auth.views import session_view
from authsvc.bodies import read_fields
from authsvc.errors import NotFound
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


@inject
async def list_sessions(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    current = await require_user(request, auth)
    sessions = []
    for record in await auth.list_sessions(current.user.id):
        view = session_view(record)
        view.update(ip=record.ip or "", userAgent=record.user_agent or "")
        sessions.append({**view, "current": record.id_hash == current.session.id_hash})
    return web.json_response({"sessions": sessions})


@inject
async def revoke_session(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    current = await require_user(request, auth)
    handle = request.match_info["id"]
    if not await auth.revoke_session(current.user.id, handle):
        raise NotFound("No such session.")
    if handle == current.session.handle:
        (await get_session(request)).invalidate()
    return web.json_response({"msg": "The session has ended"})


@inject
async def revoke_other_sessions(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    current = await require_user(request, auth)
    count = await auth.revoke_other_sessions(current)
    return web.json_response({"msg": "Every other session has ended", "revoked": count})


@inject
async def change_password(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    current = await require_user(request, auth)
    fields = await read_fields(request, "currentPassword", "newPassword")
    await auth.change_password(current, fields["currentPassword"], fields["newPassword"])
    return web.json_response({"msg": "Password changed; every other session has ended"})


@inject
async def delete_account(request: web.Request, auth: AuthService = Provide["auth_service"]) -> web.Response:
    current = await require_user(request, auth)
    fields = await read_fields(request, "password")
    await auth.delete_account(current, fields["password"])
    (await get_session(request)).invalidate()
    return web.json_response({"msg": "The account has been deleted"})
