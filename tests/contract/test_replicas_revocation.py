"""The revocation generation across replicas (issue 30, item 3): two apps on one MongoDB database, each with its
own cache, the real server, both drivers. What sign-out-everywhere through one refuses reaches the other within
mongodb.revocation_lag_ms, through the revocations log the user's bump is announced on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers

from authsvc.containers import Container
from authsvc.login.outcomes import NO_PENDING_LOGIN
from authsvc.web.app import create_app
from authsvc.web.container import create_container
from tests.conftest import make_settings
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.mongodb import mongo_sections

pytestmark = [pytest.mark.mongodb, pytest.mark.driver_contract]
POLL_MS, LAG_MS = 20, 300
Client = TestClient[Any, Any]


@pytest.fixture
async def replicas(
    mongodb_driver: str, mongodb_url: str, mongodb_database: str, aiohttp_client: Any, clock: ManualClock
) -> AsyncIterator[Callable[[], Any]]:
    sections = mongo_sections(
        mongodb_url, mongodb_database, mongodb_driver, revocation_poll_ms=POLL_MS, revocation_lag_ms=LAG_MS
    )

    async def replica() -> Client:
        container: Container = create_container(make_settings(**sections))
        container.clock.override(providers.Object(clock))
        return await aiohttp_client(create_app(container))

    yield replica


async def test_a_pending_login_begun_through_one_replica_is_refused_by_another_within_the_lag_after_sign_out_everywhere(
    replicas: Callable[[], Any], clock: ManualClock
) -> None:
    a, b = await replicas(), await replicas()
    assert (await a.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    assert (await a.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    enrolment = await (await a.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    secret = enrolment["secret"]
    assert (
        await a.post(
            "/users/me/mfa/totp/confirm",
            json={"enrolmentToken": enrolment["enrolmentToken"], "code": pyotp.TOTP(secret).at(clock.now())},
        )
    ).status == 200
    clock.advance(30)
    # The attacker's password step through A; the pending login is known to B (which now keeps alice cached).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as attacker:
        first = await attacker.post(a.make_url("/users/login"), json={"username": "alice", "password": PASSWORD})
        pending = first.cookies["sid_mfa"].value
        cookie = {"Cookie": f"sid_mfa={pending}"}

        async def b_answers() -> int:
            response = await attacker.post(b.make_url("/users/login/mfa/webauthn/options"), headers=cookie)
            return response.status

        assert await b_answers() == 404  # the pending login is live there (only no passkey to offer)

        assert (await a.delete("/users/me/sessions")).status == 200  # the owner, through A
        signed_out = time.monotonic()
        while await b_answers() != 401:
            assert time.monotonic() - signed_out <= LAG_MS / 1000, "B still honours the pending login"
            await asyncio.sleep(0.005)  # B follows the log on real time
        finished = await attacker.post(
            b.make_url("/users/login/mfa"), json={"code": pyotp.TOTP(secret).at(clock.now())}, headers=cookie
        )
        assert finished.status == 401 and (await finished.json())["detail"] == NO_PENDING_LOGIN
