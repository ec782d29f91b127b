"""Edges of the older security core the mutation run found unpinned: a peer that is not an IP address is never a
trusted proxy, and a name of exactly the longest length a username may have still signs in."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.app import create_app
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
