"""A user's passkeys over HTTP: how many an account holds, what a passkey may be named, and whose passkey can
finish whose login."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.auth.passkeys import PASSKEY_REFUSED
from tests.driver import PROOF, enrolled, login, register, signup
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


async def test_an_account_holds_twenty_passkeys_and_the_twenty_first_is_refused_before_its_ceremony(
    client: Client,
) -> None:
    await signup(client)
    await login(client)
    for number in range(20):
        registered = await register(client, SoftAuthenticator(), name=f"key {number}")
        assert registered.status == 201, await registered.text()

    refused = await client.post("/users/me/webauthn/register/options", json=PROOF)

    assert refused.status == 409
    assert "At most 20 passkeys" in await refused.text()


@pytest.mark.parametrize(("name", "status"), [("k" * 64, 201), ("k" * 65, 422), ("   ", 422), ("  a  ", 201)])
async def test_a_passkey_is_named_with_1_to_64_characters(client: Client, name: str, status: int) -> None:
    await signup(client)
    await login(client)

    registered = await register(client, SoftAuthenticator(), name=name)

    assert registered.status == status, await registered.text()


async def test_a_pending_login_cannot_be_finished_with_another_accounts_passkey(client: Client) -> None:
    alices, bobs = SoftAuthenticator(), SoftAuthenticator()
    await enrolled(client, alices, "alice")
    await enrolled(client, bobs, "bob")  # the attacker's own account and passkey
    assert (await login(client, "alice")).status == 200  # the attacker knows alice's password

    options = await (await client.post("/users/login/mfa/webauthn/options")).json()
    answer = bobs.get({**options, "allowCredentials": []}, credential=bobs.credentials[0])
    finished = await client.post("/users/login/mfa/webauthn", json={"credential": answer})

    assert finished.status == 401
    assert (await finished.json())["detail"] == PASSKEY_REFUSED
