"""create_app(container): middlewares, routes, start-up and clean-up; nothing else.

Every module of web/api and web/pages declares its routes one way, beside its handlers: a `routes` web.RouteTableDef
(a sub-application's or a listener's has its own table); create_app only adds the tables.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp_session import session_middleware

from authsvc.config import ConfigError, Settings
from authsvc.containers import running
from authsvc.deadline import outage_bound
from authsvc.web.api import auth, mail, mfa, passkeys, users
from authsvc.web.api.admin import admin_app
from authsvc.web.api.ops import docs
from authsvc.web.api.ops import handlers as ops
from authsvc.web.container import WebContainer
from authsvc.web.edge.caller import CALLERS
from authsvc.web.edge.events import event_context_middleware
from authsvc.web.edge.forms import FORM_TOKENS
from authsvc.web.edge.gate import GATE
from authsvc.web.edge.guards import SESSION_GUARD
from authsvc.web.edge.logins import LOGIN_EDGE
from authsvc.web.edge.middlewares import (
    DRAIN,
    Drain,
    Edge,
    ForwardedRules,
    csrf_middleware,
    forwarded_middleware,
    untrusted_forwarded_middleware,
)
from authsvc.web.gateway import FAST_PATH, GatewayFastPath
from authsvc.web.gateway_listener import GatewayAnswers, gateway_listener
from authsvc.web.pages import account, handlers, security, step_up
from authsvc.web.pages import mail as mail_pages
from authsvc.web.pages.handlers import is_portal_page, page_errors_middleware, page_headers_middleware, setup_portal
from authsvc.web.serving import AppRunner, drop_server_header

CONTAINER = web.AppKey("container", WebContainer)
log = logging.getLogger("authsvc")
# The JSON routes a gateway sends to authsvc; /internal/, /metrics, /readyz and /docs stay on the inside.
PUBLIC_API_PREFIXES = ("/users/", "/auth/")


async def _running(app: web.Application) -> AsyncIterator[None]:
    async with running(app[CONTAINER]):
        yield


def _reload_on_sighup(
    container: WebContainer, reload_settings: Callable[[], Settings]
) -> Callable[[web.Application], AsyncIterator[None]]:
    """SIGHUP re-reads the configuration and swaps in its access_control whole; a file that does not load keeps the
    policy in force, and the log says why. Nothing else is reloaded."""

    def reload() -> None:
        try:
            policy = container.access_rules().replace(reload_settings().access_control)
        except ConfigError as exc:
            log.error("access_control not reloaded, the policy in force stays: %s", exc)
            return
        log.info("access_control reloaded: %d rule(s), default_policy %s", len(policy.rules), policy.default.value)

    async def listen(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, reload)
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGHUP)

    return listen


def _metrics_listener(container: WebContainer, reuse_port: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """/metrics on server.metrics_port, a listener of its own that the public gateway never routes to."""
    server = container.settings().server

    async def listen(app: web.Application) -> AsyncIterator[None]:
        edge = Edge(container.metrics(), access_log=False, access_log_verify=False)
        metrics_app = web.Application(middlewares=[edge.middleware()])
        metrics_app.on_response_prepare.append(drop_server_header)
        metrics_app.add_routes(ops.metrics_routes)
        runner = AppRunner(metrics_app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, server.host, server.metrics_port, reuse_port=reuse_port or None).start()
            yield
        finally:
            await runner.cleanup()

    return listen


def create_app(
    container: WebContainer,
    *,
    reuse_port: bool = False,
    fast_path: bool = True,
    reload_settings: Callable[[], Settings] | None = None,
) -> web.Application:
    """fast_path=False serves the gateway's routes through the generic chain too (the tests compare the two);
    reload_settings: how SIGHUP reads the configuration again (serve passes it; tests need not)."""
    settings = container.settings()
    server = settings.server
    drain = Drain()
    edge = Edge(
        container.metrics(),
        access_log=server.access_log,
        access_log_verify=server.access_log_verify,
        drain=drain,
        storage_deadline=outage_bound(settings.mongodb.server_selection_timeout_ms),
    )
    trusted = [str(network) for network in server.trusted_proxies]
    forwarded = [untrusted_forwarded_middleware(trusted, container.metrics())]
    if server.trusted_proxies:
        forwarded.append(forwarded_middleware(trusted))
    middlewares = [
        page_headers_middleware(),
        *forwarded,
        edge.middleware(),
        event_context_middleware(),
        page_errors_middleware(),
        csrf_middleware(
            settings.csrf.allowed_origins,
            None if settings.csrf.allowed_origins else settings.session.cookie_domain,
            https_only=bool(settings.session.secure),
        ),
        container.device_cookies().middleware(),
        session_middleware(container.session_cookies()),
    ]
    gateway = GatewayFastPath(edge, container.gateway_check(), container.session_cookies(), forwarded)
    if fast_path:
        middlewares.insert(0, gateway.middleware())
    app = web.Application(client_max_size=server.max_body_bytes, middlewares=middlewares)
    # The edge's own parts, which decorators and the gateway's routes reach through the request (services reach the
    # handlers through @inject).
    app[SESSION_GUARD] = container.session_guard()
    app[FORM_TOKENS] = container.form_tokens()
    app[CALLERS] = container.callers()
    app[GATE] = container.gateway_check()
    app[LOGIN_EDGE] = container.login_edge()
    app[CONTAINER] = container
    app[DRAIN] = drain
    app[FAST_PATH] = gateway
    app.on_response_prepare.append(drop_server_header)
    app.cleanup_ctx.append(_running)
    if reload_settings is not None:
        app.cleanup_ctx.append(_reload_on_sighup(container, reload_settings))
    if server.gateway_port is not None:
        answers = GatewayAnswers(
            edge, container.gateway_check(), container.session_cookies(), ForwardedRules(trusted, container.metrics())
        )
        listen = gateway_listener(
            answers, server.host, server.gateway_port, reuse_port=reuse_port, shutdown_timeout=server.shutdown_timeout
        )
        app.cleanup_ctx.append(listen)
    if server.metrics_port is not None:
        app.cleanup_ctx.append(_metrics_listener(container, reuse_port))
    for module in (users, auth, mfa, passkeys, mail):
        app.add_routes(module.routes)
    if settings.introspection.enabled:
        internal = auth.internal_app(container.service_tokens(), container.auth_service(), container.session_cookies())
        app.add_subapp("/internal/", internal)
    if container.admin_tokens().configured:  # no token, no admin surface at all
        admin = admin_app(container.admin_tokens(), container.admin_service(), container.audit_reader())
        app.add_subapp("/admin/", admin)
    app.add_routes(ops.routes)
    if server.metrics_port is None:
        app.add_routes(ops.metrics_routes)  # keep it internal: the gateway must not route /metrics
    app.add_routes(docs.routes)
    setup_portal(app, settings.portal)
    for page in (handlers, step_up, mail_pages, security, account):
        app.add_routes(page.routes)
    gateway.announce(app.router, enabled=fast_path)
    return app


def public_paths(app: web.Application) -> list[str]:
    """Every path a gateway must send to authsvc, from the route table: the portal's pages and the JSON routes.

    Dynamic parts keep their placeholder ({id}); `authsvc routes --public` prints this list, one a line.
    """
    paths: set[str] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None:
            continue
        path = resource.canonical
        if is_portal_page(route.handler) or path.startswith(PUBLIC_API_PREFIXES):
            paths.add(path)
    return sorted(paths)
