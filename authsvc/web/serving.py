"""How the app meets the network: aiohttp's runner, with protocol-level errors and the Server header made ours.

A request aiohttp cannot parse (a header over 8190 bytes, too many headers, a bad request line) never reaches the
app or its middlewares: aiohttp's RequestHandler.handle_error answers it with text/plain, logs the parser's message
(which quotes the offending bytes) and adds no security headers. Its public extension points (``handler_args``,
``request_factory``) cannot change that, so a RequestHandler subclass does, installed through our AppRunner's server.
Every answer the app routes loses aiohttp's Server header in a public hook (on_response_prepare); the answer to a
request that never reached the app fires no hook, so its response class drops the header itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from authsvc.web.edge.middlewares import DRAIN, SECURITY_HEADERS

log = logging.getLogger("authsvc")


async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare hook: aiohttp has just set Server ("Python/3.x aiohttp/3.y"); say nothing instead."""
    response.headers.popall(hdrs.SERVER, None)


class _ProblemResponse(web.Response):
    async def _prepare_headers(self) -> None:
        # Private hook kept: a request that never reached the app fires no on_response_prepare, and nothing else
        # runs after aiohttp sets Server.
        await super()._prepare_headers()
        self.headers.popall(hdrs.SERVER, None)


class ProblemRequestHandler(RequestHandler):
    # Private method overridden: aiohttp has no public hook for the answer to a request it could not parse.
    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """problem+json with the security headers; neither the answer nor the log line quotes the request."""
        log.warning(
            "request refused before routing",
            extra={"event": "http.protocol_error", "status": status, "error": type(exc).__name__ if exc else None},
        )
        if request.writer.output_size > 0:  # some data already got sent, connection is broken (as aiohttp does)
            raise ConnectionError("Response is sent already, cannot send another response with the error message")
        return protocol_error_response(status)


def protocol_error_response(status: int) -> web.Response:
    """The answer to a request that could not be read (or served), with the connection closed after it: aiohttp's
    listeners and the gateway listener send the same."""
    phrase = HTTPStatus(status).phrase
    detail = "The request could not be read." if status < 500 else "The server could not handle the request."
    body = {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
    response = _ProblemResponse(
        status=status, text=json.dumps(body), content_type="application/problem+json", headers=SECURITY_HEADERS
    )
    response.force_close()
    return response


class _ProblemServer(web.Server):
    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """web.AppRunner whose connections answer protocol-level errors with ProblemRequestHandler."""

    # Private method overridden: neither AppRunner nor web.Server takes the RequestHandler class as a parameter.
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _ProblemServer  # the same server, built by aiohttp, with our handler factory
        return server


async def _serve(
    app: web.Application,
    host: str,
    port: int,
    drain_seconds: float,
    shutdown_timeout: float,
    reuse_port: bool,
    on_listening: Callable[[], None] | None,
) -> None:
    runner = AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout, handle_signals=False)
    await runner.setup()
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled.set)
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port or None).start()
        if on_listening is not None:
            on_listening()
        await signalled.wait()
        signalled.clear()
        await _drain(app, drain_seconds, signalled)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        await runner.cleanup()  # stops accepting, closes idle connections; in-flight requests get shutdown_timeout


async def _drain(app: web.Application, seconds: float, signalled: asyncio.Event) -> None:
    """Keep serving for seconds (or until a second signal): /readyz 503, every answer with Connection: close."""
    drain = app.get(DRAIN)
    if drain is None or seconds <= 0:
        return
    drain.draining = True
    log.info("draining for %.1f s before shutting down", seconds, extra={"event": "server.drain"})
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(signalled.wait(), seconds)
    log.info("drained: no longer accepting connections", extra={"event": "server.drained"})


def run(
    app: web.Application,
    *,
    host: str,
    port: int,
    shutdown_timeout: float,
    drain_seconds: float = 0.0,
    reuse_port: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
    on_listening: Callable[[], None] | None = None,
) -> None:
    """web.run_app, with our AppRunner and a drain: on SIGTERM (or SIGINT) the app's Drain is set for drain_seconds
    while it still serves, then it stops accepting and in-flight requests get shutdown_timeout; on_listening is
    called once the port is bound."""
    loop = loop or asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_serve(app, host, port, drain_seconds, shutdown_timeout, reuse_port, on_listening))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
