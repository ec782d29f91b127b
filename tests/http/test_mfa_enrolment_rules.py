"""Second factors' edges over HTTP: what is refused before any proof is checked (and so costs no password guess),
the boundary of a recent session, and a pending login outliving a sign-out everywhere."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from authsvc.login.outcomes import NO_PENDING_LOGIN
from tests.driver import PASSWORD, code_at, enrol, login, mfa_login, signup
from tests.helpers import ManualClock

Client = TestClient[Any, Any]


async def test_an_enrolled_user_starting_again_is_told_to_remove_it_first_whatever_the_password(
    client: Client, clock: ManualClock
) -> None:
    await enrol(client, clock)

    again = await client.post("/users/me/mfa/totp", json={"password": "not the password"})

    assert again.status == 409
    assert "already enrolled" in await again.text()


async def test_removing_a_passkey_that_is_not_the_users_is_404_before_any_password_check(client: Client) -> None:
    await signup(client)
    await login(client)

    removed = await client.delete("/users/me/webauthn/not-a-passkey", json={"password": "not the password"})

    assert removed.status == 404


async def test_a_session_exactly_recent_auth_seconds_old_still_removes_totp_with_the_password_alone(
    client: Client, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)
    assert (await mfa_login(client, code_at(secret, clock))).status == 200

    clock.advance(600)  # mfa.recent_auth_seconds
    removed = await client.delete("/users/me/mfa/totp", json={"password": PASSWORD})

    assert removed.status == 200, await removed.text()


async def test_a_pending_login_begun_before_sign_out_everywhere_cannot_finish_with_a_code_or_a_passkey(
    client: Client, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(force_close=True)
    ) as attacker:
        begun = await attacker.post(client.make_url("/users/login"), json={"username": "alice", "password": PASSWORD})
        assert begun.status == 200  # the password step passed: a pending login waits for the code

        assert (await client.delete("/users/me/sessions")).status == 200  # the owner signs out everywhere
        code = await attacker.post(client.make_url("/users/login/mfa"), json={"code": code_at(secret, clock)})
        options = await attacker.post(client.make_url("/users/login/mfa/webauthn/options"))

    assert code.status == 401
    assert (await code.json())["detail"] == NO_PENDING_LOGIN
    assert options.status == 401
