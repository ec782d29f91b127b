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
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Middleware

from authsvc.web.api import auth as handlers
from authsvc.web.edge.cookies import SessionCookies
from authsvc.web.edge.gate import GatewayCheck
from authsvc.web.edge.middlewares import Edge, routed_as

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("authsvc")


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One route the fast path answers in place of the generic chain: its name (the routed handler's), its answer,
    and the same answer behind the X-Forwarded-* middlewares (taken only when such a header is present)."""

    name: str
    answer: Handler
    forwarded: Handler


class GatewayFastPath:
    """The one place that knows the fast path: routes maps each routed handler it stands in for to its FastRoute;
    answered counts the requests each one served (by name), so a test can prove a route is taken."""

    def __init__(
        self,
        edge: Edge,
        check: GatewayCheck,
        cookies: SessionCookies,
        forwarded_layers: Sequence[Middleware],
    ) -> None:
        """forwarded_layers: the generic chain's X-Forwarded-* middlewares, outermost first; cookies: the session
        cookie facade, which writes a renewed cookie as aiohttp-session's middleware would."""

        def through_edge(answer: Handler, gateway_check: bool) -> Handler:
            async def inner(request: web.Request) -> web.StreamResponse:
                cookies.attach(request)
                response = await answer(request)
                await cookies.write_changed(request, response)
                return response

            async def served(request: web.Request) -> web.StreamResponse:
                return await edge.serve(request, inner, gateway_check=gateway_check, route=routed_as(request))

            return served

        def route(routed: Handler, answer: Handler) -> FastRoute:
            forwarded = answer
            for layer in reversed(forwarded_layers):
                forwarded = functools.partial(layer, handler=forwarded)
            return FastRoute(routed.__name__, answer, forwarded)

        self.routes: Mapping[object, FastRoute] = {
            handlers.verify: route(handlers.verify, through_edge(check.verify, gateway_check=True)),
            handlers.forward_auth: route(handlers.forward_auth, through_edge(check.forward_auth, gateway_check=True)),
            # @login_required: the handler guards itself
            handlers.protected: route(handlers.protected, through_edge(handlers.protected, gateway_check=False)),
        }
        self.answered: Counter[str] = Counter()

    def unrouted(self, router: web.UrlDispatcher) -> list[str]:
        """The fast routes no route of router resolves to: the fast path can never answer them."""
        routed = {route.handler for route in router.routes()}
        return [fast.name for handler, fast in self.routes.items() if handler not in routed]

    def announce(self, router: web.UrlDispatcher, *, enabled: bool) -> None:
        """Say at start-up (debug: nothing for an operator to do) which routes the fast path answers, or that it
        answers none: a handler wrapped or re-registered elsewhere would otherwise switch it off silently."""
        if not enabled:
            log.debug("gateway fast path off: the generic chain answers every route")
            return
        unrouted = self.unrouted(router)
        serves = [fast.name for fast in self.routes.values() if fast.name not in unrouted]
        log.debug(
            "gateway fast path answers %s; not routed: %s",
            ", ".join(serves) or "nothing",
            ", ".join(unrouted) or "none",
        )

    def middleware(self) -> Middleware:
        routes, answered = self.routes, self.answered

        @web.middleware
        async def gateway_fast_path(request: web.Request, handler: Handler) -> web.StreamResponse:
            route = routes.get(request.match_info.handler)
            if route is None:
                return await handler(request)
            answered[route.name] += 1
            headers = request.headers
            if hdrs.X_FORWARDED_FOR in headers or hdrs.X_FORWARDED_PROTO in headers:
                return await route.forwarded(request)
            return await route.answer(request)

        return gateway_fast_path


FAST_PATH = web.AppKey("gateway_fast_path", GatewayFastPath)
