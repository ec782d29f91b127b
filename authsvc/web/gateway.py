"""The gateway's fast path: the routes a gateway calls on every request it routes, answered in one step.

The generic middleware chain (app.py) serves every route. For /auth/verify, /auth/forward-auth and /users/protected
most of its layers do nothing (not a portal page, CSRF-exempt or a safe method, no device cookie to write), yet each
costs aiohttp a layer. This outermost middleware answers those routes itself with the same parts, so the answer is
the same by construction: the forwarded-header middlewares (only when such a header is present), the Edge (request
id, problem+json, security headers, metric, access log), the cookie facade doing aiohttp-session's middleware's part
(writing a renewed cookie), the session guard and the handler's own answer, with collaborators bound at start-up
instead of through @inject. Every other route, and a wrong method on these (the router's 405), takes the generic
chain.

server.gateway_port goes further: gateway_listener.py serves the same parts below aiohttp (an asyncio.Protocol over
httptools), plus /healthz; anything else answers 404 (or 405) problem+json with the same headers. BENCHMARKS.md
measures both; docs/architecture.md shows where they sit.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from authsvc.web.api import auth as handlers
from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.gate import GatewayCheck
from authsvc.web.edge.middlewares import Edge, routed_as

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _wrapped(middleware: Middleware, handler: Handler) -> Handler:
    return functools.partial(middleware, handler=handler)


class GatewayFastPath:
    def __init__(
        self,
        edge: Edge,
        check: GatewayCheck,
        cookies: SessionCookies,
        forwarded_layers: Sequence[Middleware],
    ) -> None:
        """forwarded_layers: the generic chain's X-Forwarded-* middlewares, outermost first; cookies: the session
        cookie facade, which writes a renewed cookie as aiohttp-session's middleware would."""

        async def verify(request: web.Request) -> web.StreamResponse:
            return await check.verify(request)

        async def forward_auth(request: web.Request) -> web.StreamResponse:
            return await check.forward_auth(request)

        def through_edge(answer: Handler, gateway_check: bool) -> Handler:
            async def inner(request: web.Request) -> web.StreamResponse:
                cookies.attach(request)
                response = await answer(request)
                await cookies.write_changed(request, response)
                return response

            async def served(request: web.Request) -> web.StreamResponse:
                return await edge.serve(request, inner, gateway_check=gateway_check, route=routed_as(request))

            return served

        def through_forwarded(answer: Handler) -> Handler:
            for layer in reversed(forwarded_layers):
                answer = _wrapped(layer, answer)
            return answer

        # The routed handler -> (its answer, the same behind the X-Forwarded-* middlewares).
        answers: dict[object, Handler] = {
            handlers.verify: through_edge(verify, gateway_check=True),
            handlers.forward_auth: through_edge(forward_auth, gateway_check=True),
            handlers.protected: through_edge(handlers.protected, gateway_check=False),  # @login_required: guarded
        }
        self._routes: dict[object, tuple[Handler, Handler]] = {
            routed: (answer, through_forwarded(answer)) for routed, answer in answers.items()
        }

    def middleware(self) -> Middleware:
        routes = self._routes

        @web.middleware
        async def gateway_fast_path(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = routes.get(request.match_info.handler)
            if route is None:
                return await handler(request)
            headers = request.headers
            if hdrs.X_FORWARDED_FOR in headers or hdrs.X_FORWARDED_PROTO in headers:
                return await route[1](request)
            return await route[0](request)

        return gateway_fast_path
