"""Per-request costs of the pieces on the verify path, timed in this process with authsvc's own objects.

Each figure is microseconds per call: the best of a few repeats of a loop long enough (~0.1 s) to drown the timer,
less the cost of the loop's own scaffolding where that is measured too (a fresh mocked request, an empty await).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import secrets
import sys
import time
import timeit
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp_session import STORAGE_KEY
from cryptography.fernet import Fernet
from dependency_injector.wiring import Provide, inject

from bench.client import PASSWORD
from bench.hashing import on_cpus

REPEAT = 5
TARGET_SECONDS = 0.1


def per_call_us(fn: Callable[[], object]) -> float:
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(number, int(number * TARGET_SECONDS / 0.2))
    return min(timer.repeat(repeat=REPEAT, number=number)) / number * 1e6


def per_await_us(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[object]], n: int = 20_000) -> float:
    n = max(100, int(n * TARGET_SECONDS / 0.1))

    async def body() -> float:
        started = time.perf_counter()
        for _ in range(n):
            await make()
        return time.perf_counter() - started

    return min(loop.run_until_complete(body()) for _ in range(REPEAT)) / n * 1e6


def scenario(options: Any) -> dict[str, Any]:
    """The micro scenario: on the servers' core, shorter loops in a quick run."""
    global REPEAT, TARGET_SECONDS
    if options.quick:
        REPEAT, TARGET_SECONDS = 2, 0.01
    return measure({int(options.server_cpus.split(",")[0])})


def _settings(key: str) -> Any:
    from authsvc.config import load_settings

    return load_settings(overrides={"session": {"keys": [key]}, "passwords": {"bcrypt_cost": 4}})


@inject
async def _injected(
    request: object,
    guard: object = Provide["session_guard"],
    settings: object = Provide["settings"],
) -> object:
    return request


async def _plain(request: object, guard: object, settings: object) -> object:
    return request


def measure(cpus: set[int] | None = None) -> dict[str, Any]:
    """Each piece in turn; a piece the current code no longer has is reported as unavailable, not fatal."""
    from authsvc.auth.sessions import hash_session_id
    from authsvc.logs import request_id_var
    from authsvc.web.api import auth as handlers
    from authsvc.web.container import create_container
    from authsvc.web.edge.middlewares import SECURITY_HEADERS

    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    key = Fernet.generate_key().decode()
    container = create_container(_settings(key))
    storage = container.session_cookies()
    auth_service = container.auth_service()
    metrics = container.metrics()
    costs: dict[str, float] = {}
    unavailable: dict[str, str] = {}

    def attempt(name: str, measurement: Callable[[], float]) -> None:
        try:
            costs[name] = measurement()
        except Exception as exc:  # the code under test moves: record, go on
            unavailable[name] = f"{type(exc).__name__}: {exc}"[:300]

    with on_cpus(cpus):
        # A real user and session in the memory backend, and the cookie that points at them.
        users = container.users_service()
        user = loop.run_until_complete(users.signup("microbench", PASSWORD))
        registry = container.session_registry()
        session_id, _ = loop.run_until_complete(registry.create(user.id))
        payload = json.dumps({"created": int(time.time()), "session": {"sid": session_id, "uid": user.id}})
        token = storage._fernet.encrypt(payload.encode()).decode()
        cookie_header = f"{storage.cookie_name}={token}"

        single = Fernet(key)
        fernet = storage._fernet
        attempt("Fernet decrypt, MultiFernet + ttl", lambda: per_call_us(lambda: fernet.decrypt(token, 1800)))
        attempt("Fernet decrypt, single key + ttl", lambda: per_call_us(lambda: single.decrypt(token, ttl=1800)))
        attempt("Fernet encrypt (login, renewal)", lambda: per_call_us(lambda: fernet.encrypt(payload.encode())))
        attempt("json.loads of the session payload", lambda: per_call_us(lambda: json.loads(payload)))

        # One mocked request, its per-request state cleared before each use (making one costs ~0.7 ms).
        request = make_mocked_request("GET", "/auth/verify", headers={"Cookie": cookie_header})

        def fresh() -> web.Request:
            request._state.clear()
            request._cache.pop("cookies", None)
            request[STORAGE_KEY] = storage
            return request

        base_request = per_call_us(fresh)
        attempt("request.cookies: parse the Cookie header", lambda: per_call_us(lambda: fresh().cookies) - base_request)

        async def load_session() -> object:
            return await storage.load_session(fresh())

        attempt(
            "aiohttp-session load_session (cookie parse + decrypt + json + Session)",
            lambda: per_await_us(loop, load_session) - base_request,
        )
        if hasattr(storage, "value_in"):
            attempt(
                "SessionCookieStorage.value_in: split the Cookie header",
                lambda: per_call_us(lambda: storage.value_in(cookie_header)),
            )
        if hasattr(storage, "session_ids"):
            storage.session_ids(token)
            attempt(
                "SessionCookieStorage.session_ids, decoded-cookie cache hit",
                lambda: per_call_us(lambda: storage.session_ids(token)),
            )

        container.wire(modules=[handlers, sys.modules[__name__]])

        async def verify_as_wired() -> object:
            return await handlers.verify(fresh())

        attempt(
            "verify handler as wired (cookie, authenticate, Response; no middlewares)",
            lambda: per_await_us(loop, verify_as_wired, 10_000) - base_request,
        )

        check = container.gateway_check()

        async def check_answer() -> object:
            return await check.answer(fresh(), browser=False)

        attempt(
            "GatewayCheck.answer, as both ports call it (cookie, authenticate, Response)",
            lambda: per_await_us(loop, check_answer, 10_000) - base_request,
        )

        async def injected() -> object:
            return await _injected(request)

        async def plain() -> object:
            return await _plain(request, auth_service, container.settings())

        attempt(
            "@inject with verify's 2 Provide markers (vs passing them)",
            lambda: per_await_us(loop, injected) - per_await_us(loop, plain),
        )

        async def authenticate() -> object:
            return await auth_service.authenticate(session_id, user.id, touch=False)

        attempt("AuthService.authenticate, memory backend", lambda: per_await_us(loop, authenticate))
        sha256 = getattr(hash_session_id, "__wrapped__", hash_session_id)  # the cache aside
        attempt("sha256 of the session id", lambda: per_call_us(lambda: sha256(session_id)))
        attempt(
            "web.Response() with the two X-Auth headers",
            lambda: per_call_us(
                lambda: web.Response(headers={"X-Auth-User-Id": user.id, "X-Auth-User-Name": "microbench"})
            ),
        )
        # The edge middleware's extras: request id, security headers, metrics, access log.
        attempt("secrets.token_hex(8) request id", lambda: per_call_us(lambda: secrets.token_hex(8)))

        def headers() -> None:
            response = web.Response()
            response.headers.update(SECURITY_HEADERS)
            response.headers["X-Request-Id"] = "0123456789abcdef"

        attempt(
            "7 security headers + X-Request-Id on a Response",
            lambda: per_call_us(headers) - per_call_us(web.Response),
        )
        attempt(
            "prometheus Histogram.labels().observe()",
            lambda: per_call_us(lambda: metrics.observe_request("GET", "/auth/verify{tail}", 200, 0.0012)),
        )
        attempt(
            "request id contextvar set + reset",
            lambda: per_call_us(lambda: request_id_var.reset(request_id_var.set("x"))),
        )
        attempt("access log line (JSON formatter + request id filter)", _access_log_cost)
        attempt("empty await (loop scaffolding)", lambda: per_await_us(loop, _nothing))
    with suppress(Exception):
        container.unwire()
    loop.close()
    asyncio.set_event_loop(None)
    return {"us_per_call": {name: round(value, 2) for name, value in costs.items()}, "unavailable": unavailable}


async def _nothing() -> None:
    return None


def _access_log_cost() -> float:
    from pythonjsonlogger.json import JsonFormatter

    from authsvc.logs import RequestIdFilter, request_id_var

    logger = logging.getLogger("bench.micro.access")
    logger.propagate = False
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(
        JsonFormatter("{asctime}{levelname}{name}{message}", style="{", rename_fields={"levelname": "level"})
    )
    handler.addFilter(RequestIdFilter())
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    stream = handler.stream
    token = request_id_var.set("0123456789abcdef")

    def line() -> None:
        logger.info(
            "request",
            extra={"method": "GET", "path": "/auth/verify", "status": 200, "duration_ms": 1.23, "ip": "127.0.0.1"},
        )
        if stream.tell() > 1_000_000:
            stream.seek(0)
            stream.truncate()

    try:
        return per_call_us(line)
    finally:
        request_id_var.reset(token)
