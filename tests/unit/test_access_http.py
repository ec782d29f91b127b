"""The original request is believed only from server.trusted_proxies (issue 25): a client talking to authsvc
directly cannot pick the rule that judges it, nor the network it seems to come from."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.app import create_app

Client = TestClient[Any, Any]
RULES = {
    "default_policy": "one_factor",
    "networks": [{"name": "office", "networks": ["198.51.100.0/24"]}],
    "rules": [
        {"domain": "public.test", "policy": "bypass"},
        {"domain": "app.test", "networks": ["office"], "policy": "bypass"},
        {"domain": "app.test", "policy": "deny"},
    ],
}


async def status(client: Client, headers: dict[str, str]) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        return (await bare.get(client.make_url("/auth/verify"), headers=headers)).status


@pytest.mark.parametrize("fast_path", [True, False])
async def test_an_untrusted_peer_cannot_describe_the_original_request(
    make_container: Any, aiohttp_client: Any, fast_path: bool
) -> None:
    untrusted: Client = await aiohttp_client(
        create_app(make_container(access_control=RULES, server={"trusted_proxies": []}), fast_path=fast_path)
    )
    assert await status(untrusted, {"X-Original-URL": "https://public.test/"}) == 401  # default_policy, not bypass
    assert await status(untrusted, {"X-Forwarded-Host": "public.test", "X-Forwarded-Uri": "/"}) == 401


@pytest.mark.parametrize("fast_path", [True, False])
async def test_the_client_network_is_the_forwarded_address_of_a_trusted_proxy(
    make_container: Any, aiohttp_client: Any, fast_path: bool
) -> None:
    trusted: Client = await aiohttp_client(
        create_app(
            make_container(access_control=RULES, server={"trusted_proxies": ["127.0.0.1/32"]}), fast_path=fast_path
        )
    )
    app = {"X-Original-URL": "https://app.test/"}
    assert await status(trusted, {**app, "X-Forwarded-For": "198.51.100.7"}) == 200  # from the office: bypass
    assert await status(trusted, {**app, "X-Forwarded-For": "203.0.113.9"}) == 403
    assert await status(trusted, app) == 403  # the peer itself (127.0.0.1) is not in the office
