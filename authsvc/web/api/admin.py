"""The admin API under /admin/: bearer tokens with scopes, JSON in and out, problem+json errors.

Its own sub-application (created only while admin.tokens is not empty): the token middleware answers 401 without a
known token and 403 without the route's scope before any handler runs. Handlers parse and answer; AdminService
decides. admin_app is given the service and the audit reader, and its handlers find them on their sub-application.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.typedefs import Middleware

from authsvc.admin.models import Account, AdminCaller, State
from authsvc.admin.service import AdminService
from authsvc.admin.tokens import AdminTokens
from authsvc.errors import BadRequest, Conflict, Forbidden, Problem, Unauthorized
from authsvc.events.context import request_context
from authsvc.events.models import Event, EventQuery
from authsvc.events.service import AuditReader
from authsvc.users.models import User
from authsvc.web.api.bodies import AdminGroups, AdminUserCreation, Invitation
from authsvc.web.edge.bodies import read_body
from authsvc.web.edge.middlewares import csrf_exempt
from authsvc.web.edge.views import iso

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Awaitable[web.StreamResponse]])

audit = logging.getLogger("authsvc.audit")

ADMIN_CALLER = web.RequestKey("admin_caller", AdminCaller)
ADMIN = web.AppKey("admin_service", AdminService)
AUDIT = web.AppKey("audit_reader", AuditReader)
SCOPE = "__authsvc_admin_scope__"
STATES: tuple[State, ...] = ("active", "disabled")
USER_ID_MAX = 64  # what GET /admin/events?user= may ask for
routes = web.RouteTableDef()
QUERY_MAX = {"prefix": 256, "email": 320, "group": 64, "cursor": 1024, "state": 16, "limit": 8}


def requires(scope: str) -> Callable[[H], H]:
    """The scope a route's token must carry; the token middleware checks it before the handler runs."""

    def mark(handler: H) -> H:
        setattr(handler, SCOPE, scope)
        return csrf_exempt(handler)  # a bearer token, never a cookie: nothing for a cross-site page to ride on

    return mark


def _record_call(request: web.Request, caller: AdminCaller | None, status: int) -> None:
    """One admin.call event per request the token check saw, reads and refusals alone too: the method, the route's
    pattern (never the path's values nor the query), the status, and who: the token's name, or anonymous for a
    request without a known token. The subject user is the route's {id} once a token was known."""
    resource = request.match_info.route.resource
    user_id = request.match_info.get("id") if caller is not None else None
    audit.info(
        "admin call",
        extra={
            "event": "admin.call",
            "actor": f"admin:{caller.name}" if caller is not None else "anonymous",
            "user_id": user_id if user_id and len(user_id) <= USER_ID_MAX else None,
            "method": request.method,
            "route": resource.canonical if resource is not None else "",
            "status": status,
            "outcome": "success" if status < 400 else "failure",
        },
    )


def admin_token_middleware(tokens: AdminTokens) -> Middleware:
    @web.middleware
    async def admin_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        caller = tokens.identify(request.headers.get("Authorization"))
        status = 500
        try:
            response = await _checked(request, handler, caller)
            status = response.status
            return response
        except Exception as exc:  # a Problem or an HTTPException carries its status; anything else becomes a 500
            status = exc.status if isinstance(exc, Problem | web.HTTPException) else 500
            raise
        finally:
            _record_call(request, caller, status)

    return admin_token


async def _checked(request: web.Request, handler: Handler, caller: AdminCaller | None) -> web.StreamResponse:
    """The handler's answer, once the token is known (401 otherwise) and carries the route's scope (403 otherwise)."""
    if caller is None:
        raise Unauthorized("A valid admin token is required.", headers={"WWW-Authenticate": "Bearer"})
    scope = getattr(request.match_info.handler, SCOPE, None)
    if scope is not None and scope not in caller.scopes:
        raise Forbidden(
            f"This admin token lacks the scope {scope}.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
    request[ADMIN_CALLER] = caller
    # Every event the call raises names the token as its actor, the service's own lines too (a sign-up, an
    # address set or an invitation mailed on the administrator's behalf), not the user they are about.
    context = request_context.get()
    token = request_context.set(replace(context, actor=f"admin:{caller.name}")) if context else None
    try:
        return await handler(request)
    finally:
        if token is not None:
            request_context.reset(token)


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "state": "disabled" if user.disabled else "active",
        "groups": list(user.groups),
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at),
    }


def account_view(account: Account) -> dict[str, Any]:
    return {
        **user_view(account.user),
        "email": account.email,
        "emailVerified": account.email_verified,
        "secondFactors": account.second_factors,
        "sessions": account.sessions,
    }


def _query(request: web.Request, known: dict[str, int] = QUERY_MAX) -> dict[str, str]:
    """The query's known parameters, each once and short; 400 otherwise."""
    values: dict[str, str] = {}
    errors = []
    for name, most in known.items():
        given = request.query.getall(name, [])
        if len(given) > 1:
            errors.append({"pointer": f"#/{name}", "detail": f"{name} may be given once"})
        elif given and not 0 < len(given[0]) <= most:
            errors.append({"pointer": f"#/{name}", "detail": f"{name} must be 1 to {most} characters"})
        elif given:
            values[name] = given[0]
    if "state" in values and values["state"] not in STATES:
        errors.append({"pointer": "#/state", "detail": "state must be active or disabled"})
    if not (limit := values.get("limit", "1")).isascii() or not limit.isdigit():
        errors.append({"pointer": "#/limit", "detail": "limit must be a whole number"})
    if errors:
        raise BadRequest("The query parameters are not the expected ones.", errors=errors)
    return values


EVENT_QUERY_MAX = {"user": 64, "type": 64, "since": 40, "until": 40, "cursor": 64, "limit": 8}


def _moment(name: str, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise BadRequest(
            "The query parameters are not the expected ones.",
            errors=[{"pointer": f"#/{name}", "detail": f"{name} must be an ISO 8601 time with a zone, e.g. ...Z"}],
        )
    return moment.timestamp()


def event_view(event: Event) -> dict[str, Any]:
    return event.fields() | {"at": iso(event.at)}


def _actor(request: web.Request) -> str:
    return f"admin:{request[ADMIN_CALLER].name}"


@routes.get("/users", allow_head=False)
@requires("users:read")
async def list_users(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    query = _query(request)
    page = await admin.list_users(
        prefix=query.get("prefix"),
        email=query.get("email"),
        state=cast(State | None, query.get("state")),
        group=query.get("group"),
        cursor=query.get("cursor"),
        limit=int(query["limit"]) if "limit" in query else None,
    )
    return web.json_response({"users": [user_view(user) for user in page.users], "nextCursor": page.next_cursor})


@routes.get("/users/{id}", allow_head=False)
@requires("users:read")
async def get_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    return web.json_response(account_view(await admin.account(request.match_info["id"])))


@routes.post("/users")
@requires("users:write")
async def create_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    body = await read_body(request, AdminUserCreation)
    user = await admin.create(_actor(request), body.username, body.password, body.email)
    return web.json_response(user_view(user), status=201)


@routes.post("/invitations")
@requires("users:write")
async def invite_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    body = await read_body(request, Invitation)
    user = await admin.invite(_actor(request), body.username, body.email)
    return web.json_response(user_view(user), status=201)


@routes.delete("/users/{id}")
@requires("users:write")
async def delete_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    await admin.delete(_actor(request), request.match_info["id"])
    return web.Response(status=204)


@routes.post("/users/{id}/disable")
@requires("users:write")
async def disable_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    return web.json_response(user_view(await admin.disable(_actor(request), request.match_info["id"])))


@routes.post("/users/{id}/enable")
@requires("users:write")
async def enable_user(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    return web.json_response(user_view(await admin.enable(_actor(request), request.match_info["id"])))


@routes.put("/users/{id}/groups")
@requires("users:write")
async def set_groups(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    groups = (await read_body(request, AdminGroups)).groups
    return web.json_response(user_view(await admin.set_groups(_actor(request), request.match_info["id"], groups)))


@routes.delete("/users/{id}/sessions")
@requires("sessions:write")
async def end_sessions(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    return web.json_response({"ended": await admin.end_sessions(_actor(request), request.match_info["id"])})


@routes.delete("/users/{id}/mfa")
@requires("users:write")
async def reset_mfa(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    removed = await admin.reset_second_factors(_actor(request), request.match_info["id"])
    return web.json_response({"removed": removed})


@routes.post("/users/{id}/reset-link")
@requires("users:write")
async def send_reset_link(request: web.Request) -> web.Response:
    admin = request.app[ADMIN]
    if not await admin.send_reset_link(_actor(request), request.match_info["id"]):
        raise Conflict("The user has no verified email address to send a reset link to.")
    return web.json_response({"sent": True}, status=202)


@routes.get("/events", allow_head=False)
@requires("events:read")
async def list_events(request: web.Request) -> web.Response:
    reader = request.app[AUDIT]
    query = _query(request, EVENT_QUERY_MAX)
    since, until = _moment("since", query.get("since")), _moment("until", query.get("until"))
    page = await reader.page(
        EventQuery(user_id=query.get("user"), type=query.get("type"), since=since, until=until),
        query.get("cursor"),
        int(query["limit"]) if "limit" in query else None,
    )
    return web.json_response({"events": [event_view(e) for e in page.events], "nextCursor": page.next_cursor})


def admin_app(tokens: AdminTokens, admin: AdminService, reader: AuditReader) -> web.Application:
    """The sub-application create_app mounts at /admin/ while an admin token is configured."""
    app = web.Application(middlewares=[admin_token_middleware(tokens)])
    app[ADMIN], app[AUDIT] = admin, reader
    app.add_routes(routes)
    return app
