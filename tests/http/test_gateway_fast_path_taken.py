"""Which requests the gateway's fast path (authsvc/web/gateway.py) answers, and which the generic chain does.

test_gateway_fast_path.py pins that both answer alike, so it cannot tell whether the fast path answered at all; these
read GatewayFastPath.answered (app[FAST_PATH]) to prove each fast route is taken and every other request is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.web.app import create_app
from authsvc.web.gateway import FAST_PATH
from tests.driver import PASSWORD

Client = TestClient[Any, Any]
FAST_ROUTES = {"verify", "forward_auth", "protected"}


@pytest.fixture
async def client(make_container: Callable[..., Container], aiohttp_client: Any) -> Client:
    app = create_app(make_container(server={"trusted_proxies": ["127.0.0.1/32"]}))
    client: Client = await aiohttp_client(app)
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    app[FAST_PATH].answered.clear()
    return client


def answered(client: Client) -> dict[str, int]:
    return dict(client.app[FAST_PATH].answered)  # type: ignore[index]


def test_the_fast_path_serves_exactly_its_three_routes(make_container: Callable[..., Container]) -> None:
    app = create_app(make_container())
    fast_path = app[FAST_PATH]
    assert {route.name for route in fast_path.routes.values()} == FAST_ROUTES
    assert fast_path.unrouted(app.router) == []


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/auth/verify", "verify"),
        ("HEAD", "/auth/verify", "verify"),
        ("POST", "/auth/verify", "verify"),
        ("GET", "/auth/verify/original/path?q=1", "verify"),
        ("GET", "/auth/forward-auth", "forward_auth"),
        ("HEAD", "/auth/forward-auth", "forward_auth"),
        ("GET", "/users/protected", "protected"),
        ("HEAD", "/users/protected", "protected"),
    ],
)
@pytest.mark.parametrize("forwarded", [{}, {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-Proto": "https"}])
async def test_each_fast_route_is_answered_by_the_fast_path(
    client: Client, method: str, path: str, name: str, forwarded: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=forwarded)
    assert response.status == 200
    assert answered(client) == {name: 1}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/forward-auth"),  # the router's 405
        ("DELETE", "/users/protected"),  # the router's 405
        ("GET", "/auth/forward-auth/"),  # no such route: 404
        ("GET", "/users/protected/"),
        ("GET", "/auth/session"),
        ("GET", "/users/me/sessions"),
        ("GET", "/healthz"),
    ],
)
async def test_other_routes_and_wrong_methods_take_the_generic_chain(client: Client, method: str, path: str) -> None:
    await client.request(method, path)
    assert answered(client) == {}


async def test_switched_off_the_generic_chain_answers_the_fast_routes(
    make_container: Callable[..., Container], aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="authsvc"):
        app = create_app(make_container(), fast_path=False)
    client: Client = await aiohttp_client(app)
    for path in ("/auth/verify", "/auth/forward-auth", "/users/protected"):
        assert (await client.get(path)).status == 401
    assert answered(client) == {}
    assert "gateway fast path off: the generic chain answers every route" in caplog.messages


def test_start_up_says_which_routes_the_fast_path_answers(
    make_container: Callable[..., Container], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="authsvc"):
        create_app(make_container())
    assert "gateway fast path answers verify, forward_auth, protected; not routed: none" in caplog.messages
