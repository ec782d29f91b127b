"""POST /users/me/mfa/recovery-codes over HTTP against the app: new recovery codes in place of the old ones, with the
proof removing a factor takes (the password, and a code when the session is old), as the account page's form."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.driver import PASSWORD, code_at, enrol, login, mfa_login, signup
from tests.helpers import ManualClock

Client = TestClient[Any, Any]
ROUTE = "/users/me/mfa/recovery-codes"
RECENT_AUTH_SECONDS = 600  # config.yaml's mfa.recent_auth_seconds


def pointers(body: dict[str, Any]) -> dict[str, str]:
    return {error["pointer"]: error["detail"] for error in body.get("errors", [])}


async def test_new_recovery_codes_replace_the_old_ones(client: Client, clock: ManualClock) -> None:
    _, old = await enrol(client, clock)
    made = await client.post(ROUTE, json={"password": PASSWORD})
    assert made.status == 200 and made.headers["Cache-Control"] == "no-store"
    new = (await made.json())["recoveryCodes"]
    assert len(new) == 10 and not set(new) & set(old)
    assert (await (await client.get("/users/me/mfa")).json())["recoveryCodesLeft"] == 10
    assert (await mfa_login(client, old[0])).status == 401
    assert (await mfa_login(client, new[0])).status == 200


async def test_an_old_session_proves_itself_with_a_code_too(client: Client, clock: ManualClock) -> None:
    secret, old = await enrol(client, clock)
    clock.advance(RECENT_AUTH_SECONDS + 1)
    missing = await client.post(ROUTE, json={"password": PASSWORD})
    assert missing.status == 422 and pointers(await missing.json()) == {"#/code": "is required"}
    wrong = await client.post(ROUTE, json={"password": PASSWORD, "code": "000000"})
    assert wrong.status == 422 and pointers(await wrong.json()) == {"#/code": "is wrong"}
    assert (await (await client.get("/users/me/mfa")).json())["recoveryCodesLeft"] == 10  # nothing replaced
    as_form = await client.post(ROUTE, data={"password": PASSWORD, "code": code_at(secret, clock)})
    assert as_form.status == 200 and len((await as_form.json())["recoveryCodes"]) == 10
    replaced = await client.post(ROUTE, json={"password": PASSWORD, "code": old[0]})  # the old codes are gone
    assert replaced.status == 422 and pointers(await replaced.json()) == {"#/code": "is wrong"}


async def test_a_wrong_password_no_authenticator_app_or_no_session_is_refused(
    client: Client, clock: ManualClock
) -> None:
    assert (await client.post(ROUTE, json={"password": PASSWORD})).status == 401
    await signup(client, "bob")
    assert (await login(client, "bob")).status == 200
    none = await client.post(ROUTE, json={"password": PASSWORD})
    assert none.status == 404 and none.content_type == "application/problem+json"
    client.session.cookie_jar.clear()
    await enrol(client, clock)
    wrong = await client.post(ROUTE, json={"password": "not the password"})
    assert wrong.status == 422 and pointers(await wrong.json()) == {"#/password": "is wrong"}
    extra = await client.post(ROUTE, json={"password": PASSWORD, "codes": 3})
    assert extra.status == 400 and extra.content_type == "application/problem+json"  # an unknown field
