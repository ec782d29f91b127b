"""The HTTP edge's part in the audit trail: who is asking, for the events the request's services raise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from authsvc.events.context import RequestContext, request_context
from authsvc.web.edge.middlewares import client_address

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def event_context_middleware() -> Middleware:
    @web.middleware
    async def event_context(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = request_context.set(RequestContext(client_address(request), request.headers.get(hdrs.USER_AGENT)))
        try:
            return await handler(request)
        finally:
            request_context.reset(token)

    return event_context
