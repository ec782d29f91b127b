"""Issue 30's limits are counted in the shared attempt storage: two app instances on one MongoDB (FerretDB here)
share the forgotten-password, sign-up and passwordless counts, so a client gains nothing by its requests landing on
different replicas. Mails go through a real SMTP server (aiosmtpd); the outbox shows what was queued."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pymongo
import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.mongodb import mongo_sections
from tests.smtp import SmtpServer, smtp_sections, token_in

pytestmark = pytest.mark.mongodb
Client = TestClient[Any, Any]


@pytest.fixture
def backend(mongodb_driver: str, mongodb_url: str, mongodb_database: str) -> dict[str, Any]:
    return mongo_sections(mongodb_url, mongodb_database, mongodb_driver)


@pytest.fixture
async def replicas(
    make_container: Callable[..., Container], aiohttp_client: Any, smtp_server: SmtpServer
) -> tuple[Client, Client]:
    """Two instances of the app on one database, each believing X-Forwarded-For from the test's proxy."""
    sections = smtp_sections(smtp_server)
    sections["server"] = {**sections["server"], "trusted_proxies": ["127.0.0.1/32"]}
    sections["throttle"] = {"forgot_burst": 2, "signup_burst": 3, "passwordless_burst": 2}
    sections["webauthn"] = {"passwordless_max_challenges": 5}
    first = await aiohttp_client(create_app(make_container(**sections)))
    second = await aiohttp_client(create_app(make_container(**sections)))
    return first, second


def sent_from(ip: str) -> dict[str, str]:
    return {"X-Forwarded-For": ip}


async def verified_user(web: Client, smtp: SmtpServer, name: str) -> None:
    body = {"username": name, "password": PASSWORD, "email": f"{name}@example.com"}
    assert (await web.post("/users/signup", json=body, headers=sent_from("192.0.2.200"))).status == 201
    mail = await smtp.wait_for(f"{name}@example.com", "Confirm your email address")
    assert (await web.post("/users/email/verify", json={"token": token_in(mail, "verify-email")})).status == 200


def resets_queued(admin: pymongo.MongoClient[dict[str, Any]], database: str, name: str) -> int:
    return admin[database]["outbox"].count_documents({"kind": "reset_password", "to": f"{name}@example.com"})


async def test_forgot_limits_are_shared_by_two_instances_on_one_mongodb(
    replicas: tuple[Client, Client],
    smtp_server: SmtpServer,
    clock: ManualClock,
    mongodb_admin: pymongo.MongoClient[dict[str, Any]],
    mongodb_database: str,
) -> None:
    first, second = replicas
    await verified_user(first, smtp_server, "alice")
    await verified_user(first, smtp_server, "bob")
    answers = set()
    for second_of_four in range(4):  # 20 requests in 4 s, half on each instance, each from an address of its own
        batch = [
            (first, second)[n % 2].post(
                "/users/password/forgot",
                json={"username": "alice"},
                headers=sent_from(f"198.51.100.{5 * second_of_four + n}"),
            )
            for n in range(5)
        ]
        answers |= {(response.status, await response.read()) for response in await asyncio.gather(*batch)}
        clock.advance(1)
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    assert resets_queued(mongodb_admin, mongodb_database, "alice") == 1

    # One client's allowance (2 here) is one, whichever instance it asks.
    for web, name in ((first, "nobody"), (second, "nobody"), (first, "bob"), (second, "bob")):
        response = await web.post("/users/password/forgot", json={"username": name}, headers=sent_from("203.0.113.7"))
        assert (response.status, await response.read()) in answers
    assert resets_queued(mongodb_admin, mongodb_database, "bob") == 0
    await second.post("/users/password/forgot", json={"username": "bob"}, headers=sent_from("203.0.113.8"))
    assert resets_queued(mongodb_admin, mongodb_database, "bob") == 1


async def test_signup_and_passwordless_allowances_are_shared_by_two_instances(
    replicas: tuple[Client, Client], clock: ManualClock
) -> None:
    first, second = replicas
    statuses = [
        (
            await (first, second)[n % 2].post(
                "/users/signup", json={"username": f"user{n}", "password": PASSWORD}, headers=sent_from("198.18.0.1")
            )
        ).status
        for n in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    clock.advance(60)  # throttle.signup_refill_seconds
    again = {"username": "user4", "password": PASSWORD}
    assert (await second.post("/users/signup", json=again, headers=sent_from("198.18.0.1"))).status == 201

    options = [
        (await web.post("/users/login/webauthn/options", headers=sent_from("198.18.0.2"))).status
        for web in (first, second, second)
    ]
    assert options == [200, 200, 429]


async def test_the_passwordless_store_cap_counts_both_instances_challenges(replicas: tuple[Client, Client]) -> None:
    first, second = replicas
    statuses = [
        (await (first, second)[n % 2].post("/users/login/webauthn/options", headers=sent_from(f"198.18.1.{n}"))).status
        for n in range(7)
    ]
    assert statuses == [200] * 2 + [503] * 5  # a cap of 5: 2 at once, the rest over a challenge's lifetime
