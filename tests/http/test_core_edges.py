"""Edges of the older security core the mutation run found unpinned: a peer that is not an IP address is never a
trusted proxy, and a name of exactly the longest length a username may have still signs in."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import PASSWORD

Client = TestClient[Any, Any]


def test_a_peer_that_is_not_an_ip_address_is_never_a_trusted_proxy(make_container: Any) -> None:
    check = make_container(server={"trusted_proxies": ["127.0.0.1/32"]}).gateway_check()
    assert check._is_trusted_peer("127.0.0.1")
    assert not check._is_trusted_peer("10.0.0.1")
    for odd in ("/run/authsvc.sock", "", "localhost", "fe80::1%eth0x"):  # a unix socket's peer, names, bad scopes
        assert not check._is_trusted_peer(odd), odd


async def test_a_name_of_the_longest_allowed_length_signs_in(make_container: Any, aiohttp_client: Any) -> None:
    web: Client = await aiohttp_client(create_app(make_container(users={"username_max_length": 256})))
    name = "a" * 256
    assert (await web.post("/users/signup", json={"username": name, "password": PASSWORD})).status == 201
    assert (await web.post("/users/login", json={"username": name.upper(), "password": PASSWORD})).status == 200
    refused = await web.post("/users/login", json={"username": name + "a", "password": PASSWORD})
    assert refused.status == 401


async def test_the_denied_page_escapes_the_host_it_links_back_to(make_container: Any, aiohttp_client: Any) -> None:
    rules = {"default_policy": "one_factor", "rules": [{"domain": "app.test", "policy": "deny"}]}
    container = make_container(access_control=rules, server={"trusted_proxies": ["127.0.0.1/32"]})
    web: Client = await aiohttp_client(create_app(container))
    hostile = 'auth.test"onmouseover="alert(1)'
    headers = {"X-Original-URL": "https://app.test/", "Accept": "text/html", "Host": hostile}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        denied = await bare.get(web.make_url("/auth/forward-auth"), headers=headers)
        page = await denied.text()
    assert denied.status == 403 and denied.content_type == "text/html"
    assert 'href="http://auth.test&quot;onmouseover=&quot;alert(1)/"' in page and 'onmouseover="' not in page


async def test_a_right_current_password_settles_the_wrong_ones_before_it(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    client.session.cookie_jar.clear(lambda cookie: cookie.key != "sid")  # counted by address, not by a device cookie
    caplog.set_level(logging.INFO, "authsvc.audit")
    wrong = {"currentPassword": "not my password", "newPassword": "another new staple"}
    statuses = [(await client.post("/users/me/password", json=wrong)).status for _ in range(9)]
    assert statuses == [422] * 9
    assert len([r for r in caplog.records if getattr(r, "event", None) == "reauth.failure"]) == 9
    right = {"currentPassword": PASSWORD, "newPassword": "a brand new staple"}
    assert (await client.post("/users/me/password", json=right)).status == 200
    client.session.cookie_jar.clear(lambda cookie: cookie.key != "sid")
    # The right one cleared the count: nine more wrong ones are refused as wrong, not throttled.
    statuses = [(await client.post("/users/me/password", json=wrong)).status for _ in range(9)]
    assert statuses == [422] * 9


async def test_a_throttled_login_is_audited_under_the_accounts_one_pseudonym_however_typed(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert (await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    for _ in range(10):
        await client.post("/users/login", json={"username": "alice", "password": "not my password"})
    caplog.set_level(logging.INFO, "authsvc.audit")
    for typed in ("alice", "ALICE"):
        throttled = await client.post("/users/login", json={"username": typed, "password": "not my password"})
        assert throttled.status == 429
    accounts = [getattr(r, "account", None) for r in caplog.records if getattr(r, "event", None) == "login.throttled"]
    assert len(accounts) == 2 and accounts[0] == accounts[1] and accounts[0] is not None
