"""Passwordless challenges over HTTP (issue 30): anyone may ask for one, so each client's asks are counted (429 with
Retry-After) and the store's live challenges are capped (503 with Retry-After); a used or expired challenge frees
its place. Clients are told apart by X-Forwarded-For from a trusted proxy, as behind a gateway."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.app import create_app
from authsvc.auth.webauthn import PASSWORDLESS
from tests.helpers import ManualClock
from tests.unit.test_passkeys_http import enrolled
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]
BEHIND_A_PROXY = {"server": {"trusted_proxies": ["127.0.0.1/32"]}}


async def options_from(client: Client, ip: str) -> Any:
    return await client.post("/users/login/webauthn/options", headers={"X-Forwarded-For": ip})


async def test_passwordless_options_past_a_clients_allowance_answer_429_with_retry_after(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    client: Client = await aiohttp_client(create_app(make_container(**BEHIND_A_PROXY)))
    answers = [await options_from(client, "203.0.113.5") for _ in range(21)]
    assert [answer.status for answer in answers] == [200] * 20 + [429]
    assert "sid_wa" in answers[0].cookies
    refused = await options_from(client, "203.0.113.5")
    assert refused.status == 429 and refused.content_type == "application/problem+json"
    assert refused.headers["Retry-After"] == "3"  # throttle.passwordless_refill_seconds
    assert "sid_wa" not in refused.cookies  # no challenge, no browser nonce
    assert (await options_from(client, "203.0.113.6")).status == 200  # another client has its own allowance
    clock.advance(3)
    assert (await options_from(client, "203.0.113.5")).status == 200


async def test_a_full_challenge_store_answers_503_until_challenges_expire(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    container = make_container(**BEHIND_A_PROXY, webauthn={"passwordless_max_challenges": 50})
    client: Client = await aiohttp_client(create_app(container))
    statuses = [(await options_from(client, f"198.18.{n // 250}.{n % 250}")).status for n in range(200)]
    assert statuses == [200] * 50 + [503] * 150  # 200 clients, each within its own allowance
    assert await container.storage().passkey_challenges.count_live(PASSWORDLESS, clock.now(), 1000) == 50
    full = await options_from(client, "198.19.0.1")
    assert full.status == 503 and full.content_type == "application/problem+json"
    assert int(full.headers["Retry-After"]) >= 1
    clock.advance(120)  # webauthn.challenge_seconds: the first fifty expired
    assert (await options_from(client, "198.19.0.1")).status == 200


async def test_a_used_challenge_frees_its_place_in_a_full_store(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    client: Client = await aiohttp_client(create_app(make_container(webauthn={"passwordless_max_challenges": 1})))
    authenticator = SoftAuthenticator()
    await enrolled(client, authenticator)
    options = await client.post("/users/login/webauthn/options")
    assert (await client.post("/users/login/webauthn/options")).status == 503
    credential = authenticator.get(await options.json())
    assert (await client.post("/users/login/webauthn", json={"credential": credential})).status == 200
    assert (await client.post("/users/login/webauthn/options")).status == 200
