"""create_app(container): middlewares, routes, start-up and clean-up; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp_session import session_middleware

from authsvc.auth import handlers as auth
from authsvc.containers import Container, provide
from authsvc.middlewares import csrf_middleware, edge_middleware, forwarded_middleware, problem_middleware
from authsvc.ops import docs
from authsvc.ops import handlers as ops
from authsvc.storage.ports import Storage
from authsvc.users import handlers as users

CONTAINER = web.AppKey("container", Container)
STORAGE = web.AppKey("storage", Storage)

log = logging.getLogger("authsvc")


async def _storage(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER]
    storage: Storage = await provide(container.storage)
    await storage.open()
    app[STORAGE] = storage
    purger = asyncio.create_task(_purge_forever(storage, container))
    yield
    purger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await purger
    await storage.close()
    await provide(container.shutdown_resources)


async def _purge_forever(storage: Storage, container: Container) -> None:
    """Expired sessions and counters go even where the database has no TTL index."""
    interval, clock = container.config.session.purge_interval(), container.clock()
    while True:
        await asyncio.sleep(interval)
        try:
            await storage.purge_expired(clock.now())
        except Exception:  # an outage must not end the purge loop
            log.warning("purge of expired sessions failed; will retry", exc_info=True)


def create_app(container: Container) -> web.Application:
    config = container.config
    middlewares = [
        edge_middleware(
            container.metrics(),
            access_log=config.server.access_log(),
            access_log_verify=config.server.access_log_verify(),
        ),
        problem_middleware,
        csrf_middleware(config.csrf.allowed_origins()),
        session_middleware(container.cookie_storage()),
    ]
    if trusted_proxies := [str(network) for network in config.server.trusted_proxies()]:
        middlewares.insert(0, forwarded_middleware(trusted_proxies))
    app = web.Application(client_max_size=config.server.max_body_bytes(), middlewares=middlewares)
    app[CONTAINER] = container
    app.cleanup_ctx.append(_storage)
    app.router.add_post("/users/signup", users.signup)
    app.router.add_post("/users/login", auth.login)
    app.router.add_get("/users/protected", users.protected)
    app.router.add_post("/users/logout", auth.logout)
    app.router.add_get("/users/logout", auth.logout)  # the tutorial's GET, kept for parity
    app.router.add_get("/users/me/sessions", users.list_sessions)
    app.router.add_delete("/users/me/sessions", users.revoke_other_sessions)
    app.router.add_delete("/users/me/sessions/{id}", users.revoke_session)
    app.router.add_post("/users/me/password", users.change_password)
    app.router.add_delete("/users/me", users.delete_account)
    # Envoy ext_authz forwards the original method and appends the original path.
    app.router.add_route("*", "/auth/verify{tail:(/(?s:.*))?}", auth.verify)
    app.router.add_get("/auth/session", auth.whoami)
    app.router.add_post("/internal/sessions/introspect", auth.introspect)
    app.router.add_get("/healthz", ops.healthz)
    app.router.add_get("/readyz", ops.readyz)
    app.router.add_get("/metrics", ops.metrics)
    app.router.add_get("/openapi.json", docs.openapi)
    app.router.add_get("/docs", docs.page)
    app.router.add_get("/docs/static/{name}", docs.static)
    return app
