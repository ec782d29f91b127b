"""Passwordless challenges over HTTP (issue 30): anyone may ask for one, so each client's asks are counted (429 with
Retry-After), and the challenges handed out are capped so that the store never holds more than
webauthn.passwordless_max_challenges live ones (503 with Retry-After). Clients are told apart by X-Forwarded-For
from a trusted proxy, as behind a gateway."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.helpers import ManualClock

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


async def test_a_full_challenge_store_answers_503_with_retry_after_until_it_refills(
    make_container: Any, aiohttp_client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    container = make_container(**BEHIND_A_PROXY, webauthn={"passwordless_max_challenges": 50})
    client: Client = await aiohttp_client(create_app(container))
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        statuses = [(await options_from(client, f"198.18.{n // 250}.{n % 250}")).status for n in range(200)]
    assert [r.getMessage() for r in caplog.records if "passwordless" in r.getMessage()] == [
        "passwordless challenges refused: as many as webauthn.passwordless_max_challenges may be live"
    ]  # one line for the episode, not one per refusal
    assert statuses == [200] * 25 + [503] * 175  # 200 clients, each within its own allowance: half the cap at once
    full = await options_from(client, "198.19.0.1")
    assert full.status == 503 and full.content_type == "application/problem+json"
    assert full.headers["Retry-After"] == "5"  # the rest come over a challenge's 120 s: one per 120 / 26 s
    clock.advance(5)
    assert (await options_from(client, "198.19.0.1")).status == 200
    assert (await options_from(client, "198.19.0.2")).status == 503


async def test_a_challenge_flood_never_has_more_than_the_cap_live(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    client: Client = await aiohttp_client(
        create_app(make_container(**BEHIND_A_PROXY, webauthn={"passwordless_max_challenges": 50}))
    )
    handed_out: list[float] = []
    for n in range(600):  # 600 clients, one every half second for five minutes
        if (await options_from(client, f"198.18.{n // 250}.{n % 250}")).status == 200:
            handed_out.append(clock.now())
        clock.advance(0.5)
    live_at_most = max(sum(1 for t in handed_out if at - 120 < t <= at) for at in handed_out)
    assert live_at_most == 50  # each lives 120 s (webauthn.challenge_seconds)


async def test_a_client_refused_by_the_full_store_keeps_its_own_allowance(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    container = make_container(
        **BEHIND_A_PROXY,
        throttle={"passwordless_burst": 1, "passwordless_refill_seconds": 3600},
        webauthn={"passwordless_max_challenges": 2},  # one at once, the other 60 s later
    )
    client: Client = await aiohttp_client(create_app(container))
    assert (await options_from(client, "203.0.113.1")).status == 200
    assert (await options_from(client, "203.0.113.2")).status == 503
    clock.advance(60)
    assert (await options_from(client, "203.0.113.2")).status == 200  # its one challenge an hour was not spent
    assert (await options_from(client, "203.0.113.2")).status == 429
