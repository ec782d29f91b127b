"""What every request passes through: request id, security headers, metrics, access log, problem+json."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from authsvc.errors import Problem
from authsvc.logs import request_id_var
from authsvc.metrics import Metrics

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("authsvc")
access = logging.getLogger("authsvc.access")

REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# OWASP REST Security Cheat Sheet headers for an API that serves no HTML.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
HSTS = "max-age=31536000; includeSubDomains"


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    return web.json_response(
        problem.body(instance=request.path),
        status=problem.status,
        headers=problem.headers,
        content_type="application/problem+json",
    )


def _from_http_exception(exc: web.HTTPException) -> Problem:
    problem = Problem(exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else None)
    problem.status, problem.title = exc.status, exc.reason
    if "Allow" in exc.headers:
        problem.headers["Allow"] = exc.headers["Allow"]
    return problem


@web.middleware
async def problem_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error becomes problem+json: no HTML page, no stack trace, ever."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_from_http_exception(exc), request)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception:
        log.exception("unhandled error")
        return problem_response(Problem("The server could not handle the request."), request)


def edge_middleware(metrics: Metrics, access_log: bool) -> Middleware:
    @web.middleware
    async def edge(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        given = request.headers.get("X-Request-Id")
        request_id = given if given and REQUEST_ID_PATTERN.fullmatch(given) else secrets.token_hex(8)
        token = request_id_var.set(request_id)
        try:
            response = await handler(request)
            headers = response.headers
            headers.update(SECURITY_HEADERS)
            headers["X-Request-Id"] = request_id
            if request.secure:
                headers["Strict-Transport-Security"] = HSTS
            elapsed = time.perf_counter() - started
            route = request.match_info.route.resource
            route_name = route.canonical if route is not None else "unmatched"
            metrics.observe_request(request.method, route_name, response.status, elapsed)
            if access_log:
                access.info(
                    "request",
                    extra={
                        "method": request.method,
                        "path": request.path,  # never the query string: it may carry secrets
                        "status": response.status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "ip": request.remote,
                    },
                )
            return response
        finally:
            request_id_var.reset(token)

    return edge
