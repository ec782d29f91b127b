"""An answer tells the truth about the write that mattered: work after it (a notice, an address, a sign-in) that
meets a storage failure is skipped and logged, never turned into a 503 for a write that landed.

The storage fails where each test says, at one method of the real memory backend (the outage e2e tests stop a real
FerretDB; here the failure has to fall between two writes of one request, which only a fault at the port can time).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.errors import StorageUnavailable
from authsvc.mail.models import EmailAddress, address_key
from authsvc.throttle.rules import Attempt
from authsvc.web.app import create_app
from tests.driver import PASSWORD, open_form

Client = TestClient[Any, Any]
CREDENTIALS = {"username": "alice", "password": PASSWORD}


def fail(*args: object, **kwargs: object) -> Any:
    raise StorageUnavailable()


async def signed_up_with_verified_address(client: Client, container: Container) -> str:
    signup = await client.post("/users/signup", json=CREDENTIALS)
    assert signup.status == 201
    user_id = str((await signup.json())["userId"])
    address = "alice@example.com"
    await container.storage().email_addresses.set(EmailAddress(user_id, address, address_key(address), True))
    return user_id


async def test_login_whose_new_device_notice_fails_answers_200_with_a_live_session(
    client: Client, container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await signed_up_with_verified_address(client, container)
    monkeypatch.setattr(container.storage().email_addresses, "get", fail)

    login = await client.post("/users/login", json=CREDENTIALS)

    assert login.status == 200
    assert "sid" in login.cookies
    assert (await client.get("/users/protected")).status == 200
    assert "a new-device notice skipped: the storage is unavailable" in caplog.text
    assert await container.storage().outbox.pending() == 0


async def test_login_a_verified_address_decides_answers_503_when_unreadable_and_ends_its_session(
    make_container: Any, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(users={"require_verified_email": True})
    client: Client = await aiohttp_client(create_app(container))
    user_id = await signed_up_with_verified_address(client, container)
    monkeypatch.setattr(container.storage().email_addresses, "get", fail)

    login = await client.post("/users/login", json=CREDENTIALS)

    assert login.status == 503
    assert "sid" not in login.cookies
    assert await container.storage().sessions.list_for_user(user_id, 0.0) == []


async def test_signup_whose_address_cannot_be_stored_answers_201_and_the_account_exists(
    client: Client, container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(container.storage().email_addresses, "set", fail)

    signup = await client.post("/users/signup", json={**CREDENTIALS, "email": "alice@example.com"})

    assert signup.status == 201
    assert (await client.post("/users/login", json=CREDENTIALS)).status == 200
    assert "the address of a new account skipped: the storage is unavailable" in caplog.text


async def test_portal_signup_whose_sign_in_fails_answers_201_and_says_the_account_is_ready(
    client: Client, container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(container.storage().attempts, "hit", fail)  # the sign-in's count, after the account

    page = await client.post("/signup", data={**CREDENTIALS, "csrf": await open_form(client, "/signup")})

    assert page.status == 201
    assert "Your account is ready" in await page.text()
    assert await container.storage().users.find_by_username("alice") is not None


async def test_abandoned_attempt_gives_its_counts_back_together(caplog: pytest.LogCaptureFixture) -> None:
    started: list[int] = []
    all_started = asyncio.Event()

    def give_back(index: int) -> Any:
        async def run() -> None:
            started.append(index)
            if len(started) == 3:
                all_started.set()
            await all_started.wait()  # one after another, the first would wait here for ever
            if index == 1:
                raise StorageUnavailable()

        return run

    attempt = Attempt()
    for index in range(3):
        attempt.undo(give_back(index), give_back(index))

    with caplog.at_level(logging.WARNING, "authsvc"):
        await asyncio.wait_for(attempt.abandoned(), 5)

    assert sorted(started) == [0, 1, 2]
    assert caplog.text.count("a throttle count was not given back") == 1


async def test_password_change_whose_notice_and_re_read_fail_answers_200_and_the_new_password_works(
    client: Client, container: Container, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await signed_up_with_verified_address(client, container)
    assert (await client.post("/users/login", json=CREDENTIALS)).status == 200
    users = container.storage().users
    monkeypatch.setattr(container.storage().email_addresses, "get", fail)  # the notice's address
    real_find = users.find_by_id
    update = users.update_password_hash

    async def update_then_fail_reads(*args: Any, **kwargs: Any) -> Any:
        result = await update(*args, **kwargs)
        monkeypatch.setattr(users, "find_by_id", fail)  # after the write that matters
        return result

    monkeypatch.setattr(users, "update_password_hash", update_then_fail_reads)
    new = {"currentPassword": PASSWORD, "newPassword": "a different passphrase 42"}

    changed = await client.post("/users/me/password", json=new)

    assert changed.status == 200
    assert "a password-change notice skipped: the storage is unavailable" in caplog.text
    assert "re-reading a changed user skipped" in caplog.text
    monkeypatch.setattr(users, "find_by_id", real_find)
    assert (await client.post("/users/login", json=CREDENTIALS)).status == 401
    again = {"username": "alice", "password": "a different passphrase 42"}
    assert (await client.post("/users/login", json=again)).status == 200
