"""Two authsvc replicas on one database, as behind a gateway: sessions, revocations and throttling are shared."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.test_tutorial_flow import PASSWORD, new_name, session_cookie
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.mongodb import mongo_sections

CLIENT_MAX_FAILURES = 3
pytestmark = [pytest.mark.mongodb, pytest.mark.e2e]


@pytest.fixture
def replicas(tmp_path: Path, mongodb_url: str, mongodb_database: str) -> Iterator[tuple[AuthsvcProcess, ...]]:
    """Replica A and replica B: one database, one session key (AuthsvcProcess gives every process TEST_KEY)."""
    config: dict[str, Any] = {
        **FAST_CONFIG,
        **mongo_sections(mongodb_url, mongodb_database, session_cache_seconds=0),
        "throttle": {"client_max_failures": CLIENT_MAX_FAILURES},
    }
    processes = (AuthsvcProcess(tmp_path, config), AuthsvcProcess(tmp_path, config))
    try:
        yield tuple(process.start() for process in processes)
    finally:
        for process in processes:
            process.stop()


async def test_session_made_on_one_replica_is_live_on_the_other_until_logout(
    replicas: tuple[AuthsvcProcess, AuthsvcProcess],
) -> None:
    a, b = replicas
    credentials = {"username": new_name("shared"), "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        signup = await on_a.post("/users/signup", json=credentials)
        assert signup.status == 201
        cookie = {"Cookie": f"sid={session_cookie(await on_a.post('/users/login', json=credentials))}"}
        protected = await on_b.get("/users/protected", headers=cookie)
        assert protected.status == 200
        assert (await protected.json())["userId"] == (await signup.json())["userId"]
        assert (await on_b.post("/users/signup", json=credentials)).status == 409

        assert (await on_a.post("/users/logout", headers=cookie)).status == 200
        assert (await on_b.get("/users/protected", headers=cookie)).status == 401  # at once: no cache
        assert (await on_a.get("/users/protected", headers=cookie)).status == 401


async def test_failed_logins_on_one_replica_throttle_the_other(replicas: tuple[AuthsvcProcess, AuthsvcProcess]) -> None:
    a, b = replicas
    credentials = {"username": new_name("target"), "password": PASSWORD}
    async with aiohttp.ClientSession(a.url) as on_a, aiohttp.ClientSession(b.url) as on_b:
        assert (await on_b.post("/users/signup", json=credentials)).status == 201
        for _ in range(CLIENT_MAX_FAILURES):
            wrong = await on_a.post("/users/login", json={**credentials, "password": "wrong password"})
            assert wrong.status == 401
        throttled = await on_b.post("/users/login", json=credentials)
        assert throttled.status == 429
        assert int(throttled.headers["Retry-After"]) > 0
