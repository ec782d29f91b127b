"""The original request is believed only from server.trusted_proxies (issue 25): a client talking to authsvc
directly cannot pick the rule that judges it, nor the network it seems to come from."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app

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


AUTHELIA_HEADERS = {
    "user_name_header": "Remote-User",
    "user_groups_header": "Remote-Groups",
    "user_email_header": "Remote-Email",
}


async def test_authelias_header_names_carry_name_groups_and_the_verified_email(
    make_container: Any, aiohttp_client: Any
) -> None:
    container = make_container(gateway=AUTHELIA_HEADERS, server={"trusted_proxies": ["127.0.0.1/32"]})
    client: Client = await aiohttp_client(create_app(container))
    credentials = {"username": "alice", "password": "correct horse battery"}
    assert (await client.post("/users/signup", json=credentials)).status == 201
    cookie = {"Cookie": f"sid={(await client.post('/users/login', json=credentials)).cookies['sid'].value}"}
    users, mail = container.users_service(), container.account_mail()
    alice = await users.set_groups("alice", ["dev", "admins"])
    assert alice is not None

    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        url = client.make_url("/auth/verify")
        unverified = await bare.get(url, headers=cookie)
        assert (unverified.headers["Remote-User"], unverified.headers["Remote-Groups"]) == ("alice", "admins,dev")
        assert unverified.headers["Remote-Email"] == ""  # none verified yet: nothing the app could trust
        await mail.set_address(alice, "alice@example.com")
        stored = await container.storage().email_addresses.get(alice.id)
        assert stored is not None
        assert await container.storage().email_addresses.mark_verified(alice.id, stored.key)
        verified = await bare.get(url, headers=cookie)
        assert verified.headers["Remote-Email"] == "alice@example.com"
        assert "X-Auth-User-Name" not in verified.headers and verified.headers["X-Auth-User-Id"] == alice.id
