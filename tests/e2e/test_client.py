"""authsvc.client against the real `authsvc serve` process, and its gateway middleware on a real aiohttp server.

Requests the client makes are counted on the server's side, from /metrics, so "no request" means none arrived.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from authsvc.client import (
    GATEWAY_USER,
    INACTIVE,
    IntrospectionClient,
    IntrospectionError,
    IntrospectionUnauthorized,
    IntrospectionUnavailable,
    gateway_user_middleware,
)
from tests.driver import PASSWORD
from tests.helpers import FAST_CONFIG, ROOT, AuthsvcProcess, free_port

pytestmark = pytest.mark.e2e

TOKEN = secrets.token_urlsafe(32)
INTROSPECTED = re.compile(
    r'^authsvc_http_request_duration_seconds_count\{method="POST",route="/internal/sessions/introspect",'
    r'status="200"\} (\S+)$',
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthsvcProcess]:
    config = {**FAST_CONFIG, "introspection": {"enabled": True, "tokens": [{"name": "billing", "token": TOKEN}]}}
    process = AuthsvcProcess(Path(tmp_path_factory.mktemp("client")), config).start()
    yield process
    process.stop()


class Browser:
    """A user of the real service: signs up, logs in, logs out; holds the session cookie."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http

    async def login(self) -> str:
        """A new user's session; a session this browser held before stays live (a login would end it)."""
        self.http.cookie_jar.clear()
        body = {"username": f"u-{secrets.token_hex(6)}", "password": PASSWORD}
        assert (await self.http.post("/users/signup", json=body)).status == 201
        response = await self.http.post("/users/login", json=body)
        assert response.status == 200
        return response.cookies["sid"].value

    async def logout(self) -> None:
        assert (await self.http.post("/users/logout")).status == 200

    async def session_handle(self) -> str:
        whoami = await (await self.http.get("/auth/session")).json()
        return str(whoami["session"]["id"])

    async def introspections_answered(self) -> int:
        metrics = await (await self.http.get("/metrics")).text()
        match = INTROSPECTED.search(metrics)
        return int(float(match[1])) if match else 0


@pytest.fixture
async def browser(service: AuthsvcProcess) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(service.url, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(http)


class MovableClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_live_session_is_active_with_user_and_expiry(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=0) as client:
        result = await client.introspect(cookie)
    assert result.active is True and result.user is not None
    assert result.user.name.startswith("u-") and re.fullmatch(r"[0-9a-f]{24}", result.user.id)
    assert result.sid == await browser.session_handle()
    assert result.iat is not None and result.exp is not None
    assert result.iat <= time.time() < result.exp


async def test_after_logout_inactive_with_cache_off(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=0) as client:
        assert (await client.introspect(cookie)).active
        await browser.logout()
        assert await client.introspect(cookie) == INACTIVE


async def test_cache_answers_a_second_call_without_a_request(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=30) as client:
        before = await browser.introspections_answered()
        first = await client.introspect(cookie)
        second = await client.introspect(cookie)
        assert await browser.introspections_answered() == before + 1
    assert first.active and second == first


async def test_cache_never_serves_past_the_session_expiry(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    clock = MovableClock()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=3600, clock=clock) as client:
        before = await browser.introspections_answered()
        first = await client.introspect(cookie)
        assert first.exp is not None
        clock.now = first.exp - 1
        await client.introspect(cookie)  # still cached: an hour's cache, a second before exp
        assert await browser.introspections_answered() == before + 1
        clock.now = first.exp
        await client.introspect(cookie)
        assert await browser.introspections_answered() == before + 2


async def test_inactive_answers_are_never_cached(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    await browser.logout()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=30) as client:
        before = await browser.introspections_answered()
        assert await client.introspect(cookie) == INACTIVE
        assert await client.introspect(cookie) == INACTIVE
        assert await browser.introspections_answered() == before + 2


async def test_cache_is_bounded_least_recently_used_first(service: AuthsvcProcess, browser: Browser) -> None:
    first, second = await browser.login(), await browser.login()
    async with IntrospectionClient(service.url, TOKEN, cache_seconds=30, max_entries=1) as client:
        before = await browser.introspections_answered()
        for cookie in (first, second, second, first):
            assert (await client.introspect(cookie)).active
        assert await browser.introspections_answered() == before + 3  # `first` was evicted by `second`


async def test_wrong_token_raises_unauthorized(service: AuthsvcProcess, browser: Browser) -> None:
    cookie = await browser.login()
    async with IntrospectionClient(service.url, TOKEN + "x") as client:
        with pytest.raises(IntrospectionUnauthorized) as raised:
            await client.introspect(cookie)
    assert cookie not in str(raised.value)


async def test_unreachable_service_raises_unavailable() -> None:
    async with IntrospectionClient(f"http://127.0.0.1:{free_port()}", TOKEN) as client:
        with pytest.raises(IntrospectionUnavailable):
            await client.introspect("gAAAAAsome-cookie-value")


async def stand_in(handler: Any) -> TestServer:
    """A real HTTP server on 127.0.0.1 answering the introspection route as told (not authsvc)."""
    app = web.Application()
    app.router.add_post("/internal/sessions/introspect", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_timeout_and_server_errors_raise_unavailable_other_answers_raise_error() -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"active": False})

    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"title": "Service Unavailable"}, status=503)

    async def disabled(request: web.Request) -> web.Response:
        return web.json_response({"title": "Not Found"}, status=404)

    async def not_json(request: web.Request) -> web.Response:
        return web.Response(text="<html>a proxy's page</html>", content_type="text/html")

    cases = [(slow, IntrospectionUnavailable), (failing, IntrospectionUnavailable), (disabled, None), (not_json, None)]
    for handler, raised in cases:
        server = await stand_in(handler)
        try:
            async with IntrospectionClient(str(server.make_url("/")), TOKEN, timeout=0.2) as client:
                with pytest.raises(raised or IntrospectionError) as caught:
                    await client.introspect("gAAAAAsome-cookie-value")
            if raised is None:
                assert not isinstance(caught.value, IntrospectionUnavailable | IntrospectionUnauthorized)
        finally:
            await server.close()


def test_client_module_imports_nothing_of_the_server() -> None:
    probe = "import sys, authsvc.client; print(' '.join(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(run.stdout.split())
    server_only = {"aiohttp_session", "aiohttp_remotes", "bcrypt", "cryptography", "dependency_injector", "motor"}
    server_only |= {"prometheus_client", "pydantic", "pymongo", "pythonjsonlogger", "yaml", "zxcvbn"}
    assert not loaded & server_only
    assert {name for name in loaded if name.startswith("authsvc")} == {"authsvc", "authsvc.client"}


# --- gateway_user_middleware on a real aiohttp server on 127.0.0.1 ---------------------------------------------


async def gateway_app(trusted: list[str], **headers: str) -> TestServer:
    async def whoami(request: web.Request) -> web.Response:
        user = request.get(GATEWAY_USER)
        return web.json_response(
            {
                "user": None if user is None else {"id": user.id, "name": user.name},
                "headers": sorted(name for name in request.headers if name.lower().startswith("x-")),
            }
        )

    app = web.Application(middlewares=[gateway_user_middleware(trusted, **headers)])
    app.router.add_get("/", whoami)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def ask(server: TestServer, headers: dict[str, str]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(server.make_url("/"), headers=headers) as response:
        assert response.status == 200
        body: dict[str, Any] = await response.json()
        return body


GATEWAY_HEADERS = {"X-Auth-User-Id": "6650f1c2a1b2c3d4e5f60718", "X-Auth-User-Name": "alice", "X-Other": "kept"}


async def test_gateway_user_is_believed_from_a_trusted_peer() -> None:
    server = await gateway_app(["10.0.0.0/8", "127.0.0.0/8"])
    try:
        body = await ask(server, GATEWAY_HEADERS)
        assert body["user"] == {"id": "6650f1c2a1b2c3d4e5f60718", "name": "alice"}
        assert (await ask(server, {}))["user"] is None  # the gateway let an anonymous request through
    finally:
        await server.close()


async def test_gateway_headers_from_an_untrusted_peer_are_ignored_and_stripped() -> None:
    server = await gateway_app(["10.0.0.0/8", "::1/128"])  # 127.0.0.1 is not the gateway here
    try:
        body = await ask(server, GATEWAY_HEADERS)
        assert body == {"user": None, "headers": ["X-Other"]}
    finally:
        await server.close()


async def test_gateway_header_names_are_configurable() -> None:
    server = await gateway_app(["127.0.0.1/32"], user_id_header="X-User", user_name_header="X-User-Name")
    try:
        assert (await ask(server, {"X-User": "u1", "X-User-Name": "bob"}))["user"] == {"id": "u1", "name": "bob"}
        assert (await ask(server, GATEWAY_HEADERS))["user"] is None
    finally:
        await server.close()
