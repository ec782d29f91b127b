"""The throttle at the HTTP edge, against the app on 127.0.0.1: the device cookie, the 429 and 503 answers, the
re-authentication routes, sign-up, and the warning about X-Forwarded-For from an untrusted peer."""

from __future__ import annotations

import asyncio
import logging
from http.cookies import SimpleCookie
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import PASSWORD, signup_and_login

Client = TestClient[Any, Any]
WRONG = "wrong password"


def set_cookies(response: Any) -> dict[str, str]:
    """Every Set-Cookie header of the response, by cookie name."""
    headers: dict[str, str] = {}
    for header in response.headers.getall("Set-Cookie", []):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        headers.update({name: header for name in cookie})
    return headers


@pytest.fixture
async def proxied(make_container: Any, aiohttp_client: Any) -> Client:
    """The app behind a trusted proxy on 127.0.0.1: X-Forwarded-For names the client."""
    client: Client = await aiohttp_client(
        create_app(make_container(server={"trusted_proxies": ["127.0.0.1/32"]}, throttle={"account_max_failures": 5}))
    )
    return client


async def login(client: Client, name: str, password: str, ip: str, headers: dict[str, str] | None = None) -> Any:
    body = {"username": name, "password": password}
    return await client.post("/users/login", json=body, headers={"X-Forwarded-For": ip, **(headers or {})})


async def test_login_sets_a_device_cookie_that_logout_keeps(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    response = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert response.headers.getall("Set-Cookie")[0].startswith("sid=")  # the session cookie comes first
    device = set_cookies(response)["did"]
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=15552000"):
        assert attribute in device
    logout = await client.post("/users/logout")
    assert set(set_cookies(logout)) == {"sid"}
    assert any(cookie.key == "did" for cookie in client.session.cookie_jar)


async def test_device_cookie_takes_the_host_prefix_and_secure_of_the_session_cookie(
    make_container: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(make_container(session={"secure": True, "host_prefix": True})))
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    response = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert "Secure" in set_cookies(response)["__Host-did"]


async def test_the_owners_browser_logs_in_through_the_account_lock_after_logging_out(proxied: Client) -> None:
    await signup_and_login(proxied)  # this browser logged in before the attack
    await proxied.post("/users/logout")
    kept = {cookie.key: cookie.value for cookie in proxied.session.cookie_jar}
    proxied.session.cookie_jar.clear()  # the attacker's and the stranger's requests carry no cookie
    for n in range(6):
        await login(proxied, "alice", WRONG, f"198.18.4.{n}")
    stranger = await login(proxied, "alice", PASSWORD, "192.0.2.1")
    assert stranger.status == 429
    owner = await login(proxied, "alice", PASSWORD, "192.0.2.1", headers={"Cookie": f"did={kept['did']}"})
    assert owner.status == 200


@pytest.mark.parametrize(
    "forged",
    ["gAAAAABnot-a-real-token", "x" * 5000, ""],
)
async def test_a_forged_device_cookie_counts_as_an_unknown_device(proxied: Client, forged: str) -> None:
    await signup_and_login(proxied)
    proxied.session.cookie_jar.clear()
    for n in range(6):
        await login(proxied, "alice", WRONG, f"198.18.5.{n}")
    response = await login(proxied, "alice", PASSWORD, "192.0.2.2", headers={"Cookie": f"did={forged}"})
    assert response.status == 429


async def test_a_session_cookie_does_not_pass_for_a_device_cookie(proxied: Client) -> None:
    session = await signup_and_login(proxied)  # encrypted with the same keys
    proxied.session.cookie_jar.clear()
    for n in range(6):
        await login(proxied, "alice", WRONG, f"198.18.6.{n}")
    response = await login(proxied, "alice", PASSWORD, "192.0.2.3", headers={"Cookie": f"did={session}"})
    assert response.status == 429


async def test_v6_3_1_every_429_is_problem_json_with_retry_after(make_container: Any, aiohttp_client: Any) -> None:
    proxied = await aiohttp_client(create_app(make_container(server={"trusted_proxies": ["127.0.0.1/32"]})))
    await proxied.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    for _ in range(10):
        assert (await login(proxied, "alice", WRONG, "203.0.113.1")).status == 401
    throttled = await login(proxied, "alice", PASSWORD, "203.0.113.1")
    assert throttled.status == 429
    assert throttled.content_type == "application/problem+json"
    body = await throttled.json()
    assert body["status"] == 429 and body["detail"] == "Too many attempts; try again later."
    assert int(throttled.headers["Retry-After"]) >= 1
    assert "Set-Cookie" not in throttled.headers
    metrics = await (await proxied.get("/metrics")).text()
    assert 'authsvc_throttled_total{rule="client"} 1.0' in metrics


async def test_wrong_current_password_is_422_then_429(client: Client) -> None:
    await signup_and_login(client)
    statuses = []
    for _ in range(11):
        body = {"currentPassword": WRONG, "newPassword": "a brand new passphrase"}
        statuses.append((await client.post("/users/me/password", json=body)).status)
    assert statuses == [422] * 10 + [429]  # counted against this browser's device allowance, like its logins
    deletion = await client.delete("/users/me", json={"password": PASSWORD})
    assert deletion.status == 429 and int(deletion.headers["Retry-After"]) >= 1


async def test_signup_answers_429_past_the_clients_allowance(make_container: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(make_container(throttle={"signup_burst": 2})))
    statuses = [
        (await client.post("/users/signup", json={"username": f"user{n}", "password": PASSWORD})).status
        for n in range(3)
    ]
    assert statuses == [201, 201, 429]


async def test_full_hashing_queue_answers_503_with_retry_after(make_container: Any, aiohttp_client: Any) -> None:
    container = make_container(
        server={"trusted_proxies": ["127.0.0.1/32"]}, passwords={"hash_threads": 1, "hash_queue": 0}
    )
    client = await aiohttp_client(create_app(container))
    responses = await asyncio.gather(*(login(client, f"ghost{n}", WRONG, f"198.18.7.{n}") for n in range(6)))
    statuses = sorted(response.status for response in responses)
    assert set(statuses) == {401, 503}
    busy = next(response for response in responses if response.status == 503)
    assert busy.headers["Retry-After"] == "1" and busy.content_type == "application/problem+json"


async def test_forwarded_for_from_an_untrusted_peer_warns_once_and_is_counted(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        for n in range(3):
            await client.get("/healthz", headers={"X-Forwarded-For": f"203.0.113.{n}"})
        await client.get("/healthz")
    warnings = [r for r in caplog.records if "trusted_proxies" in r.getMessage()]
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0].getMessage()
    metrics = await (await client.get("/metrics")).text()
    assert "authsvc_forwarded_for_untrusted_total 3.0" in metrics


async def test_forwarded_for_from_a_trusted_proxy_is_not_warned_about(
    proxied: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        await proxied.get("/healthz", headers={"X-Forwarded-For": "203.0.113.9"})
    assert not [r for r in caplog.records if "trusted_proxies" in r.getMessage()]
    assert "authsvc_forwarded_for_untrusted_total 0.0" in await (await proxied.get("/metrics")).text()
