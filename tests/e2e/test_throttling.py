"""Issue 11's throttling scenarios through the real `authsvc serve`, with the default throttle settings: on the memory
backend, and on MongoDB with two replicas (one on PyMongo, one on Motor) that share their counts, each request going
to the next replica in turn. Clients are simulated with X-Forwarded-For behind a trusted proxy on 127.0.0.1."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import pymongo
import pytest

from tests.driver import PASSWORD, new_name
from tests.helpers import FAST_CONFIG, AuthsvcProcess
from tests.mongodb import MONGO_DRIVERS, mongo_sections, new_database_name

pytestmark = pytest.mark.e2e
WRONG = "wrong password"
CONFIG: dict[str, Any] = {
    **FAST_CONFIG,
    "server": {**FAST_CONFIG["server"], "access_log": False, "trusted_proxies": ["127.0.0.1/32"]},
}


class Replicas:
    """The service's processes; each request goes to the next one."""

    def __init__(self, urls: list[str]) -> None:
        self._urls = itertools.cycle(urls)

    def url(self, path: str) -> str:
        return next(self._urls) + path


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("memory", id="memory"),
        pytest.param("mongodb", id="mongodb-2-replicas", marks=pytest.mark.mongodb),
    ],
)
def replicas(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    tmp_path = tmp_path_factory.mktemp("throttling")
    admin: pymongo.MongoClient[dict[str, Any]] | None = None
    if request.param == "memory":
        processes = [AuthsvcProcess(tmp_path, CONFIG)]
    else:
        url: str = request.getfixturevalue("mongodb_url")
        admin = request.getfixturevalue("mongodb_admin")
        database = new_database_name()
        # The serialized test server queues 60 concurrent logins' writes for seconds: a storage deadline (the outage
        # bound) well above that, so these tests see the throttle's answers, not load shedding's 503.
        sections = {"server_selection_timeout_ms": 10_000}
        processes = [
            AuthsvcProcess(tmp_path, {**CONFIG, **mongo_sections(url, database, driver, **sections)})
            for driver in MONGO_DRIVERS
        ]
    try:
        yield Replicas([process.start().url for process in processes])
    finally:
        for process in processes:
            process.stop()
        if admin is not None:
            admin.drop_database(database)


def addresses() -> str:
    """A /16 of this test's own (10.x.y.0/24 per call), so tests and runs never share a client."""
    return f"10.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


async def signup(http: aiohttp.ClientSession, replicas: Replicas, name: str) -> None:
    headers = {"X-Forwarded-For": f"{addresses()}.1"}
    body = {"username": name, "password": PASSWORD}
    assert (await http.post(replicas.url("/users/signup"), json=body, headers=headers)).status == 201


async def login(http: aiohttp.ClientSession, replicas: Replicas, name: str, password: str, ip: str) -> int:
    body = {"username": name, "password": password}
    async with http.post(replicas.url("/users/login"), json=body, headers={"X-Forwarded-For": ip}) as response:
        if response.status == 429:
            retry_after = response.headers["Retry-After"]
            assert retry_after.isdigit() and int(retry_after) >= 1
            assert response.content_type == "application/problem+json"
        return response.status


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies (one jar for every replica: cookies are not per port)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def script() -> aiohttp.ClientSession:
    """A client that keeps no cookies at all."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())


async def test_a_one_address_failing_on_40_unknown_names_still_logs_in_to_another_account(replicas: Replicas) -> None:
    office = f"{addresses()}.7"
    async with script() as http:
        name = new_name("carol")
        await signup(http, replicas, name)
        for n in range(40):
            assert await login(http, replicas, new_name(f"ghost{n}-"), WRONG, office) == 401
        assert await login(http, replicas, name, PASSWORD, office) == 200


async def test_b_one_client_gets_429_by_its_11th_failure_while_the_owner_logs_in_elsewhere(
    replicas: Replicas,
) -> None:
    net = addresses()
    async with script() as http:
        name = new_name("dave")
        await signup(http, replicas, name)
        statuses = [await login(http, replicas, name, WRONG, f"{net}.66") for _ in range(11)]
        assert statuses == [401] * 10 + [429]
        assert await login(http, replicas, name, PASSWORD, f"{net}.66") == 429
        assert await login(http, replicas, name, PASSWORD, f"{net}.67") == 200


async def test_c_25_addresses_x_5_failures_shut_out_new_devices_but_not_the_owners_browser(
    replicas: Replicas,
) -> None:
    name, net = new_name("erin"), addresses()
    async with browser() as owner, script() as attacker, script() as new_device:
        await signup(owner, replicas, name)
        assert await login(owner, replicas, name, PASSWORD, f"{net}.200") == 200  # before the attack
        assert (await owner.post(replicas.url("/users/logout"))).status == 200  # the jar keeps the device cookie
        outcomes = Counter(
            [await login(attacker, replicas, name, WRONG, f"{net}.{n}") for n in range(25) for _ in range(5)]
        )
        assert outcomes == {401: 100, 429: 25}
        assert await login(new_device, replicas, name, PASSWORD, f"{net}.201") == 429
        assert await login(owner, replicas, name, PASSWORD, f"{net}.200") == 200


async def test_d_12_addresses_of_one_ipv6_64_count_as_one_client(replicas: Replicas) -> None:
    prefix = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    async with script() as http:
        name = new_name("frank")
        await signup(http, replicas, name)
        statuses = [await login(http, replicas, name, WRONG, f"{prefix}::{n:x}") for n in range(1, 13)]
        assert statuses == [401] * 10 + [429] * 2
        assert await login(http, replicas, name, PASSWORD, f"{prefix}:1:2:3:4") == 429  # still the same /64


async def test_e_60_concurrent_wrong_logins_from_one_client_get_429s(replicas: Replicas) -> None:
    ip = f"{addresses()}.9"
    async with script() as http:
        name = new_name("grace")
        await signup(http, replicas, name)
        statuses = Counter(await asyncio.gather(*(login(http, replicas, name, WRONG, ip) for _ in range(60))))
        assert set(statuses) <= {401, 429}
        assert statuses[401] <= 11  # 10, and one more only if the burst outlasted the first 1 s back-off
        assert statuses[429] >= 49
