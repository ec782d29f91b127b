"""Ablations: authsvc's own app with one piece taken out or done differently, to price each piece end to end.

``python -m bench.variants --variant NAME --port P --config FILE`` serves what ``authsvc serve`` serves (same
settings, container, create_app, uvloop) after applying the variant's change. authsvc's code is not edited: the
change is made to the built app before it starts. Every variant also answers ``GET /bench-hello`` (the ceiling's
handler behind authsvc's middlewares), which prices the middleware stack alone.

Variants:
  as_is            nothing changed
  no_inject        /auth/verify's @inject dependencies resolved once at start-up, not per request
  no_metrics       the per-request Prometheus histogram observation skipped
  no_edge          the edge middleware (request id, security headers, metrics, access log) removed
  session_only     every middleware but aiohttp-session's removed: the verify handler's own cost
  lean             no_inject + no_metrics
  fast_verify      a sketch of a verify fast path: the outermost middleware answers a live session's /auth/verify
                   itself (same 200 response: X-Auth-*, security headers, X-Request-Id, metrics) from a cache of
                   raw Cookie header -> cookie value, with dependencies bound at start-up and the metric's labelled
                   child cached; anything else (no or dead session, renewal due) takes the normal path
  gc_freeze        gc.freeze() once start-up is done: the long-lived heap leaves the collector's generations
  bare_hello       authsvc fully built (imports, container, app) but serving only the ceiling's app: the cost of
                   the process around the handler (heap size, GC) without any of authsvc's request path
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import secrets
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from bench.ceiling import hello, new_loop

VARIANTS = (
    "as_is",
    "no_inject",
    "no_metrics",
    "no_edge",
    "session_only",
    "lean",
    "gc_freeze",
    "fast_verify",
    "bare_hello",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_MARKER: type = type(__import__("dependency_injector.wiring", fromlist=["Provide"]).Provide["x"])


def resolve_marker(container: Any, marker: Any) -> Any:
    """The value a Provide["a.b.c"] marker stands for, looked up once."""
    target = marker.provider
    if not isinstance(target, str):
        return target()
    provider = container
    for part in target.split("."):
        provider = getattr(provider, part)
    return provider()


def without_inject(container: Any, handler: Handler) -> Handler:
    """The @inject-wrapped handler's own function, its Provide[...] defaults resolved now: a plain call per request."""
    original = getattr(handler, "__wrapped__", None)
    if original is None:
        raise RuntimeError(f"{handler!r} is not @inject-wrapped")
    resolved = {
        name: resolve_marker(container, parameter.default)
        for name, parameter in inspect.signature(original).parameters.items()
        if isinstance(parameter.default, _MARKER)
    }

    async def plain(request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = await original(request, **resolved)
        return response

    return plain


def fast_verify_middleware(container: Any) -> Any:
    """The fast path described in the module docstring; built from authsvc's own objects."""
    from authsvc.middlewares import HSTS, REQUEST_ID_PATTERN, SECURITY_HEADERS

    storage = container.session_cookies()
    auth = container.auth_service()
    settings = container.settings()
    renews = settings.session.verify_renews
    user_id_header, user_name_header = settings.gateway.user_id_header, settings.gateway.user_name_header
    histogram = container.metrics()._requests
    cookie_name = storage.cookie_name
    values: dict[str, str | None] = {}  # raw Cookie header -> our cookie's value (bounded)
    children: dict[tuple[str, str, int], Any] = {}

    @web.middleware
    async def fast(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/auth/verify"):
            return await handler(request)
        started = time.perf_counter()
        raw = request.headers.get("Cookie")
        if raw is None:
            return await handler(request)
        value = values.get(raw, "")
        if value == "":
            value = storage.value_in(raw) if hasattr(storage, "value_in") else request.cookies.get(cookie_name)
            if len(values) >= 10_000:
                values.clear()
            values[raw] = value
        ids = storage.session_ids(value)
        if ids is None:
            return await handler(request)
        authenticated = await auth.authenticate(*ids, touch=renews)
        if authenticated is None or authenticated.renewed:
            return await handler(request)  # 401 or a cookie to re-issue: the normal path does it
        user = authenticated.user
        given = request.headers.get("X-Request-Id")
        headers = {
            user_id_header: user.id,
            user_name_header: quote(user.username, safe="@._-+"),
            **SECURITY_HEADERS,
            "X-Request-Id": given if given and REQUEST_ID_PATTERN.fullmatch(given) else secrets.token_hex(8),
        }
        if request.secure:
            headers["Strict-Transport-Security"] = HSTS
        response = web.Response(headers=headers)
        key = (request.method, request.match_info.route.resource.canonical, 200)  # type: ignore[union-attr]
        child = children.get(key)
        if child is None:
            child = children[key] = histogram.labels(key[0], key[1], "200")
        child.observe(time.perf_counter() - started)
        return response

    return fast


def _middleware_name(middleware: Any) -> str:
    return str(getattr(middleware, "__qualname__", repr(middleware)))


def apply(variant: str, container: Any, app: web.Application) -> None:
    if variant in ("no_inject", "lean"):
        from authsvc.auth import handlers

        replaced = 0
        for route in app.router.routes():
            if route.handler is handlers.verify:
                setattr(route, "_handler", without_inject(container, handlers.verify))  # noqa: B010 (private)
                replaced += 1
        if not replaced:
            raise RuntimeError("no route serves authsvc.auth.handlers.verify")
    if variant in ("no_metrics", "lean"):
        setattr(container.metrics(), "observe_request", lambda *args, **kwargs: None)  # noqa: B010 (an instance)
    if variant == "no_edge":
        kept = [m for m in app.middlewares if "edge" not in _middleware_name(m)]
        if len(kept) == len(app.middlewares):
            raise RuntimeError(f"no edge middleware among {[_middleware_name(m) for m in app.middlewares]}")
        setattr(app, "_middlewares", type(app.middlewares)(kept))  # noqa: B010 (private)
    if variant == "fast_verify":
        setattr(app, "_middlewares", type(app.middlewares)([fast_verify_middleware(container), *app.middlewares]))  # noqa: B010
    if variant == "session_only":
        kept = [m for m in app.middlewares if "session_middleware" in _middleware_name(m)]
        if len(kept) != 1:
            raise RuntimeError(f"no single session middleware among {[_middleware_name(m) for m in app.middlewares]}")
        setattr(app, "_middlewares", type(app.middlewares)(kept))  # noqa: B010 (private)


def serve(variant: str, host: str, port: int, config: str | None) -> None:
    from authsvc.app import create_app
    from authsvc.config import load_settings
    from authsvc.containers import create_container
    from authsvc.logs import configure_logging

    settings = load_settings(config, overrides={"server": {"host": host, "port": port}})
    configure_logging(settings.logging.level)
    warnings.filterwarnings("ignore", "It is recommended to use web.RequestKey", web.NotAppKeyWarning)
    container = create_container(settings)
    container.session_keys()
    app = create_app(container)
    app.router.add_get("/bench-hello", hello)
    apply(variant, container, app)
    if variant == "gc_freeze":

        async def freeze(app: web.Application) -> None:
            gc.collect()
            gc.freeze()

        app.on_startup.append(freeze)
    if variant == "bare_hello":
        app = web.Application()
        app.router.add_get("/bench-hello", hello)
        app.router.add_get("/healthz", hello)
    loop: asyncio.AbstractEventLoop | None = new_loop()
    web.run_app(app, host=host, port=port, access_log=None, print=None, loop=loop)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.variants", description=__doc__)
    parser.add_argument("--variant", choices=VARIANTS, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    serve(args.variant, args.host, args.port, args.config)


if __name__ == "__main__":
    main()
