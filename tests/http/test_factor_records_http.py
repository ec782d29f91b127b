"""What the mutation run found unpinned around the second factors (docs/mutation.md): which factor a session records,
the session a passkey sign-in replaces, the passwordless challenge cookie's name and its end, and the order of the
checks before new recovery codes."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container, running
from authsvc.web.app import create_app
from tests.driver import PASSWORD, code_at, enrol, enrolled, mfa_login, passwordless, post, protected_with, signed_up
from tests.helpers import ManualClock
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
async def web(make_container: Any, aiohttp_client: Any) -> Client:
    client: Client = await aiohttp_client(create_app(make_container()))
    return client


async def current_factors(client: Client) -> list[str]:
    sessions = (await (await client.get("/users/me/sessions")).json())["sessions"]
    current = [session for session in sessions if session["current"]]
    assert len(current) == 1, sessions
    factors: list[str] = current[0]["factors"]
    return factors


async def test_a_session_records_whether_a_totp_or_a_recovery_code_proved_it(
    client: Client, clock: ManualClock
) -> None:
    secret, codes = await enrol(client, clock)
    client.session.cookie_jar.clear()
    assert (await mfa_login(client, code_at(secret, clock))).status == 200
    assert await current_factors(client) == ["password", "totp"]
    client.session.cookie_jar.clear()
    assert (await mfa_login(client, codes[0])).status == 200
    assert await current_factors(client) == ["password", "recovery_code"]


async def test_a_passwordless_sign_in_ends_the_session_it_replaces_and_its_challenge_cookie(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await enrolled(client, authenticator)
    before = next(cookie.value for cookie in client.session.cookie_jar if cookie.key == "sid")  # registered with it
    assert await protected_with(client, before) == 200
    done = await passwordless(client, authenticator)
    assert done.status == 200
    after = done.cookies["sid"].value
    assert after != before
    assert await protected_with(client, before) == 401 and await protected_with(client, after) == 200
    challenge = done.cookies["sid_wa"]
    assert challenge.value == "" and challenge["max-age"] == "0"


async def test_the_passwordless_challenge_cookie_takes_the_host_prefix_with_the_session_cookie(
    make_container: Any, aiohttp_client: Any
) -> None:
    container = make_container(session={"secure": True, "host_prefix": True})
    prefixed: Client = await aiohttp_client(create_app(container))
    asked = await prefixed.post("/users/login/webauthn/options")
    assert asked.status == 200 and asked.headers["Set-Cookie"].startswith("__Host-sid_wa=")


async def test_new_recovery_codes_without_totp_are_not_found_before_any_password_is_checked(web: Client) -> None:
    await signed_up(web)
    guessed = await post(web, "recovery-codes", password="a guessed password")
    assert guessed.status == 404


async def test_a_passwordless_answer_without_its_challenge_cookie_is_refused_before_it_counts(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await enrolled(client, authenticator)
    client.session.cookie_jar.clear()
    options = await (await client.post("/users/login/webauthn/options")).json()
    credential = authenticator.get(options)
    client.session.cookie_jar.clear()  # the browser that asked is not the one answering: nothing to look up
    statuses = [(await client.post("/users/login/webauthn", json={"credential": credential})).status for _ in range(12)]
    assert statuses == [401] * 12  # past the ten failed logins the limit allows, and still no 429 for the owner
    assert (await passwordless(client, authenticator)).status == 200


def test_the_pending_login_cookie_takes_the_host_prefix_with_the_session_cookie(make_container: Any) -> None:
    prefixed = make_container(session={"secure": True, "host_prefix": True})
    assert prefixed.pending_login_cookie().name == "__Host-sid_mfa"
    assert make_container().pending_login_cookie().name == "sid_mfa"


async def test_mfa_reset_finds_no_one_for_an_unknown_name_and_nothing_to_remove_for_a_plain_user(
    container: Container,
) -> None:
    async with running(container):
        mfa = container.mfa_service()
        assert await mfa.reset("nobody") is None  # `authsvc mfa-reset nobody`: no such user, nothing touched
        await container.users_service().signup("bob", PASSWORD)
        reset = await mfa.reset("bob")
        assert reset is not None and reset[0].username == "bob" and reset[1] is False
