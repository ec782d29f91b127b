"""Ablations: authsvc's own app with one piece taken out or done differently, to price each piece end to end.

``python -m bench.variants --variant NAME --port P --config FILE`` serves what ``authsvc serve`` serves (same
settings, container, create_app, uvloop) after applying the variant's change. authsvc's code is not edited: the
change is made to the built app before it starts. Every variant also answers ``GET /bench-hello`` (the ceiling's
handler behind authsvc's middlewares), which prices the middleware stack alone.

Variants:
  as_is            nothing changed (the gateway's fast path, authsvc/web/gateway.py)
  generic_chain    create_app(container, fast_path=False): the gateway's routes through the generic middleware
                   chain, as before issue 17
  no_metrics       the per-request Prometheus histogram observation skipped
  no_security_headers  the 7 security headers left off every answer: what writing them costs
  keep_server_header   aiohttp's Server header left in: what the hook that drops it costs
  gc_freeze        gc.freeze() once start-up is done: the long-lived heap leaves the collector's generations
  bare_hello       authsvc fully built (imports, container, app) but serving only the ceiling's app: the cost of
                   the process around the handler (heap size, GC) without any of authsvc's request path
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import warnings
from typing import Any

from aiohttp import web

from bench.ceiling import hello, new_loop

VARIANTS = (
    "as_is",
    "generic_chain",
    "no_metrics",
    "no_security_headers",
    "keep_server_header",
    "gc_freeze",
    "bare_hello",
)


def apply(variant: str, container: Any, app: web.Application) -> None:
    if variant == "no_metrics":
        setattr(container.metrics(), "observe_request", lambda *args, **kwargs: None)  # noqa: B010 (an instance)


def serve(variant: str, host: str, port: int, config: str | None) -> None:
    from authsvc.config import load_settings
    from authsvc.logs import configure_logging
    from authsvc.web.app import create_app
    from authsvc.web.container import create_container

    settings = load_settings(config, overrides={"server": {"host": host, "port": port}})
    configure_logging(settings.logging.level)
    warnings.filterwarnings("ignore", "It is recommended to use web.RequestKey", web.NotAppKeyWarning)
    container = create_container(settings)
    container.session_keys()
    if variant == "no_security_headers":
        from authsvc.web.edge import middlewares

        middlewares.SECURITY_HEADERS.clear()
    app = create_app(container, fast_path=variant != "generic_chain")
    if variant == "keep_server_header":
        from authsvc.web.serving import drop_server_header

        app.on_response_prepare.remove(drop_server_header)
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
