"""Passkeys over HTTP against the app, with a software authenticator that signs for real and the real py_webauthn
verifier on the other side: registration, the second step of a login, passwordless login, and what is refused
(replayed or expired challenges, other origins and relying parties, counters that go back, removed passkeys).
ASVS v5 6.3.3 (MFA), 6.5.x (single-use challenges), V6 authenticator lifecycle."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.auth.passkeys import PASSKEY_REFUSED
from authsvc.login.outcomes import NO_PENDING_LOGIN
from authsvc.web.app import create_app
from tests.driver import (
    PASSWORD,
    PROOF,
    code_at,
    enrol,
    enrolled,
    login,
    passwordless,
    protected_with,
    register,
    second_step,
    signup,
)
from tests.helpers import ManualClock
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


async def test_registration_options_ask_for_a_discoverable_credential_and_exclude_registered_ones(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await signup(client)
    await login(client)
    first = await client.post("/users/me/webauthn/register/options", json=PROOF)
    options = await first.json()
    assert first.headers["Cache-Control"] == "no-store"
    assert options["rp"] == {"id": "localhost", "name": "authsvc"}
    assert options["user"]["name"] == "alice" and options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["timeout"] == 120_000
    credential = authenticator.create(options)
    registered = await client.post(
        "/users/me/webauthn/register", json={"name": " my  laptop ", "credential": credential}
    )
    assert registered.status == 201
    view = await registered.json()
    assert view["id"] == credential["id"] and view["name"] == "my laptop" and view["lastUsedAt"] is None
    again = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    assert [c["id"] for c in again["excludeCredentials"]] == [credential["id"]]
    listed = await (await client.get("/users/me/webauthn")).json()
    assert listed == {"passkeys": [view]}
    assert (await (await client.get("/users/me/mfa")).json())["methods"] == ["webauthn"]


async def test_packed_self_attestation_is_accepted_too(client: Client) -> None:
    await signup(client)
    await login(client)
    assert (await register(client, SoftAuthenticator(attestation="packed"))).status == 201


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "http://localhost.evil.example:8080"}, {"origin": "https://localhost:8080"}, {"rp_id": "example.com"}],
    ids=["other-origin", "other-scheme", "other-rp-id"],
)
async def test_registration_from_another_origin_or_relying_party_is_refused(
    client: Client, authenticator: SoftAuthenticator, tamper: dict[str, str]
) -> None:
    await signup(client)
    await login(client)
    refused = await register(client, authenticator, **tamper)
    assert refused.status == 422
    assert (await refused.json())["detail"] == PASSKEY_REFUSED
    assert (await (await client.get("/users/me/webauthn")).json()) == {"passkeys": []}


async def test_a_registration_challenge_is_single_use_short_lived_and_bound_to_its_session(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    await signup(client)
    await login(client)
    options = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    credential = authenticator.create(options)
    # Another session of the same user cannot answer this session's challenge.
    assert (await login(client)).status == 200
    stolen = await client.post("/users/me/webauthn/register", json={"name": "x", "credential": credential})
    assert stolen.status == 422
    options = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    late = authenticator.create(options)
    clock.advance(121)
    assert (await client.post("/users/me/webauthn/register", json={"name": "x", "credential": late})).status == 422
    options = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    credential = authenticator.create(options)
    assert (
        await client.post("/users/me/webauthn/register", json={"name": "x", "credential": credential})
    ).status == 201
    replay = await client.post("/users/me/webauthn/register", json={"name": "x", "credential": credential})
    assert replay.status == 422


async def test_v7_5_1_a_session_cookie_alone_cannot_add_a_passkey(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await signup(client)
    await login(client)  # the attacker holds this session's cookie, not the password
    assert (await client.post("/users/me/webauthn/register/options", json={})).status == 400
    wrong = await client.post("/users/me/webauthn/register/options", json={"password": "a guessed password"})
    assert wrong.status == 422
    assert (await wrong.json())["errors"] == [{"pointer": "#/password", "detail": "is wrong"}]
    # Without options there is no challenge to sign: an answer made up by the attacker's authenticator is refused.
    made_up = {
        "challenge": "A" * 43,
        "rp": {"id": "localhost", "name": "authsvc"},
        "user": {"id": "AA", "name": "alice"},
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    }
    body = {"name": "x", "credential": authenticator.create(made_up)}
    refused = await client.post("/users/me/webauthn/register", json=body)
    assert refused.status == 422
    assert (await (await client.get("/users/me/webauthn")).json()) == {"passkeys": []}


async def test_v7_5_1_an_old_session_with_totp_adds_a_passkey_only_with_a_code(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(601)  # the session is no longer recent
    needed = await client.post("/users/me/webauthn/register/options", json=PROOF)
    assert needed.status == 422
    assert (await needed.json())["errors"] == [{"pointer": "#/code", "detail": "is required"}]
    assert (await client.post("/users/me/webauthn/register/options", json={**PROOF, "code": "000000"})).status == 422
    assert (await register(client, authenticator, proof={**PROOF, "code": code_at(secret, clock)})).status == 201


async def test_v6_3_1_wrong_passwords_for_registration_options_count_like_failed_logins(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    client = await aiohttp_client(create_app(make_container(throttle={"client_max_failures": 3})))
    await signup(client)
    await login(client)
    for _ in range(3):
        wrong = await client.post("/users/me/webauthn/register/options", json={"password": "a guessed password"})
        assert wrong.status == 422
    throttled = await client.post("/users/me/webauthn/register/options", json=PROOF)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    assert (await login(client)).status == 429
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (await client.post("/users/me/webauthn/register/options", json=PROOF)).status == 200


async def test_registering_a_passkey_ends_the_other_sessions(client: Client, authenticator: SoftAuthenticator) -> None:
    await signup(client)
    other = (await login(client)).cookies["sid"].value
    client.session.cookie_jar.clear()  # another device
    await login(client)
    options = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    assert await protected_with(client, other) == 200
    credential = authenticator.create(options)
    assert (
        await client.post("/users/me/webauthn/register", json={"name": "x", "credential": credential})
    ).status == 201
    assert await protected_with(client, other) == 401
    assert (await client.get("/users/protected")).status == 200


async def test_a_passkey_is_the_second_step_of_a_password_login(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    view = await enrolled(client, authenticator)
    client.session.cookie_jar.clear()  # another browser
    first = await login(client)
    assert first.status == 200
    assert await first.json() == {"msg": "Second factor required", "mfa": {"methods": ["webauthn"]}}
    assert (await client.get("/users/protected")).status == 401
    options = await (await client.post("/users/login/mfa/webauthn/options")).json()
    assert [c["id"] for c in options["allowCredentials"]] == [view["id"]]
    credential = authenticator.get(options)
    done = await client.post("/users/login/mfa/webauthn", json={"credential": credential})
    assert done.status == 200
    body = await done.json()
    assert body["msg"] == "User logged in" and body["User"]["userName"] == "alice"
    session = done.cookies["sid"].value
    assert await protected_with(client, session) == 200
    listed = await (await client.get("/users/me/webauthn")).json()
    assert listed["passkeys"][0]["lastUsedAt"] is not None
    # The pending login is spent: the same assertion, or a new one, opens nothing more.
    assert (await client.post("/users/login/mfa/webauthn", json={"credential": credential})).status == 401


async def test_passkey_options_need_a_pending_login(client: Client) -> None:
    refused = await client.post("/users/login/mfa/webauthn/options")
    assert refused.status == 401
    assert (await refused.json())["detail"] == NO_PENDING_LOGIN


async def test_a_totp_only_user_gets_no_passkey_options(client: Client, clock: ManualClock) -> None:
    await enrol(client, clock)
    await login(client)
    assert (await client.post("/users/login/mfa/webauthn/options")).status == 404


@pytest.mark.parametrize(
    "tamper",
    [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}],
    ids=["other-origin", "other-rp-id"],
)
async def test_wrong_assertions_answer_one_401_and_end_the_pending_login_after_the_cap(
    make_container: Any, aiohttp_client: Any, authenticator: SoftAuthenticator, tamper: dict[str, Any]
) -> None:
    client = await aiohttp_client(create_app(make_container(mfa={"pending_max_attempts": 2})))
    await enrolled(client, authenticator)
    await login(client)
    for _ in range(2):
        options = await (await client.post("/users/login/mfa/webauthn/options")).json()
        credential = authenticator.get(options, **tamper, credential=authenticator.credentials[0])
        refused = await client.post("/users/login/mfa/webauthn", json={"credential": credential})
        assert refused.status == 401
        assert (await refused.json())["detail"] == PASSKEY_REFUSED
    # The cap is reached: even a right assertion finds no pending login.
    assert (await client.post("/users/login/mfa/webauthn/options")).status == 401
    options = await (await client.post("/users/login/webauthn/options")).json()  # for a valid challenge at all
    good = authenticator.get(options)
    ended = await client.post("/users/login/mfa/webauthn", json={"credential": good})
    assert ended.status == 401 and (await ended.json())["detail"] == NO_PENDING_LOGIN


async def test_a_counter_that_goes_back_is_refused_and_logged_as_a_possible_clone(
    client: Client, authenticator: SoftAuthenticator, caplog: pytest.LogCaptureFixture
) -> None:
    await enrolled(client, authenticator)
    assert (await second_step(client, authenticator, sign_count=5)).status == 200
    with caplog.at_level(logging.WARNING, logger="authsvc.audit"):
        assert (await second_step(client, authenticator, sign_count=5)).status == 401
        assert (await second_step(client, authenticator, sign_count=3)).status == 401
    clones = [r for r in caplog.records if getattr(r, "event", None) == "webauthn.counter_regression"]
    assert len(clones) == 2
    assert (await second_step(client, authenticator, sign_count=6)).status == 200


async def test_an_authenticator_that_never_counts_keeps_working(client: Client) -> None:
    authenticator = SoftAuthenticator(counts=False)
    await enrolled(client, authenticator)
    for _ in range(3):
        assert (await second_step(client, authenticator)).status == 200


async def test_passwordless_login_with_a_discoverable_passkey(client: Client, authenticator: SoftAuthenticator) -> None:
    await enrolled(client, authenticator)
    await client.post("/users/logout")
    asked = await client.post("/users/login/webauthn/options")
    options = await asked.json()
    assert options["allowCredentials"] == [] and options["userVerification"] == "required"
    assert "sid_wa=" in asked.headers["Set-Cookie"] and "HttpOnly" in asked.headers["Set-Cookie"]
    credential = authenticator.get(options)
    done = await client.post("/users/login/webauthn", json={"credential": credential})
    assert done.status == 200
    assert (await done.json())["User"]["userName"] == "alice"
    assert (await client.get("/users/protected")).status == 200
    # The challenge was taken: the same answer again opens nothing.
    assert (await client.post("/users/login/webauthn", json={"credential": credential})).status == 401


async def test_a_passwordless_challenge_handed_out_before_sign_out_everywhere_is_refused(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    await enrolled(client, authenticator)
    options = await (await client.post("/users/login/webauthn/options")).json()
    clock.advance(1)
    assert (await client.delete("/users/me/sessions")).status == 200  # the owner signs out everywhere
    stale = await client.post("/users/login/webauthn", json={"credential": authenticator.get(options)})
    assert stale.status == 401 and (await stale.json())["detail"] == PASSKEY_REFUSED
    clock.advance(1)
    assert (await passwordless(client, authenticator)).status == 200  # a challenge asked for since works


async def test_passwordless_needs_user_verification(client: Client, authenticator: SoftAuthenticator) -> None:
    await enrolled(client, authenticator)
    authenticator.user_verified = False
    refused = await passwordless(client, authenticator)
    assert refused.status == 401
    assert (await refused.json())["detail"] == PASSKEY_REFUSED


async def test_passwordless_challenge_is_bound_to_the_browser_and_short_lived(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    await enrolled(client, authenticator)
    options = await (await client.post("/users/login/webauthn/options")).json()
    credential = authenticator.get(options)
    client.session.cookie_jar.clear(lambda cookie: cookie.key == "sid_wa")
    assert (await client.post("/users/login/webauthn", json={"credential": credential})).status == 401
    options = await (await client.post("/users/login/webauthn/options")).json()
    late = authenticator.get(options)
    clock.advance(121)
    assert (await client.post("/users/login/webauthn", json={"credential": late})).status == 401


async def test_a_removed_passkey_no_longer_signs_in(client: Client, authenticator: SoftAuthenticator) -> None:
    view = await enrolled(client, authenticator)
    path = f"/users/me/webauthn/{view['id']}"
    wrong = await client.delete(path, json={"password": "not it at all"})
    assert wrong.status == 422
    assert (await client.delete("/users/me/webauthn/nope", json={"password": PASSWORD})).status == 404
    assert (await client.delete(path, json={"password": PASSWORD})).status == 200
    assert (await (await client.get("/users/me/webauthn")).json()) == {"passkeys": []}
    assert (await passwordless(client, authenticator)).status == 401
    assert (await (await login(client)).json())["msg"] == "User logged in"  # no second factor left


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"name": "x", "credential": "text"},
        {"name": "x", "credential": {}},
        {
            "name": "x",
            "credential": {"id": "AA", "rawId": "AA", "type": "public-key", "response": {"clientDataJSON": "!!"}},
        },
        {"name": "x", "credential": {"response": {"clientDataJSON": "e30", "attestationObject": "oA"}}},
        {"name": "", "credential": {}},
    ],
)
async def test_malformed_registrations_get_a_problem_never_a_500(client: Client, body: dict[str, Any]) -> None:
    await signup(client)
    await login(client)
    answer = await client.post("/users/me/webauthn/register", json=body)
    assert answer.status in (400, 422)
    assert answer.content_type == "application/problem+json"


@pytest.mark.parametrize(
    "credential",
    [{}, {"id": 5}, {"id": "AA", "response": {"clientDataJSON": "e30"}}, {"id": "AA", "response": []}],
)
async def test_malformed_assertions_get_a_401_never_a_500(
    client: Client, authenticator: SoftAuthenticator, credential: dict[str, Any]
) -> None:
    await enrolled(client, authenticator)
    await client.post("/users/login/webauthn/options")
    answer = await client.post("/users/login/webauthn", json={"credential": credential})
    assert answer.status == 401 and answer.content_type == "application/problem+json"
    await login(client)
    await client.post("/users/login/mfa/webauthn/options")
    answer = await client.post("/users/login/mfa/webauthn", json={"credential": credential})
    assert answer.status == 401 and answer.content_type == "application/problem+json"


async def test_removing_a_passkey_from_an_old_session_needs_a_code_when_totp_is_enrolled(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)  # signs up and logs in alice, with TOTP
    registered = await register(client, authenticator)
    assert registered.status == 201
    path = f"/users/me/webauthn/{(await registered.json())['id']}"
    clock.advance(601)  # the session is no longer recent
    needed = await client.delete(path, json={"password": PASSWORD})
    assert needed.status == 422
    assert (await needed.json())["errors"] == [{"pointer": "#/code", "detail": "is required"}]
    assert (await client.delete(path, json={"password": PASSWORD, "code": code_at(secret, clock)})).status == 200


async def test_deleting_the_account_deletes_its_passkeys(
    client: Client, container: Any, authenticator: SoftAuthenticator
) -> None:
    view = await enrolled(client, authenticator)
    assert await container.storage().passkeys.find(view["id"]) is not None
    assert (await client.delete("/users/me", json={"password": PASSWORD})).status == 200
    assert await container.storage().passkeys.find(view["id"]) is None


async def test_a_user_with_totp_and_a_passkey_may_finish_with_either(
    client: Client, authenticator: SoftAuthenticator, clock: ManualClock
) -> None:
    await enrol(client, clock)
    assert (await register(client, authenticator)).status == 201
    client.session.cookie_jar.clear()
    first = await login(client)
    assert (await first.json())["mfa"] == {"methods": ["totp", "webauthn"]}
    options = await (await client.post("/users/login/mfa/webauthn/options")).json()
    done = await client.post("/users/login/mfa/webauthn", json={"credential": authenticator.get(options)})
    assert done.status == 200


async def test_refused_passwordless_answers_count_like_failed_logins(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await enrolled(client, authenticator)
    client.session.cookie_jar.clear()
    statuses = [(await passwordless(client, authenticator, origin="https://evil.example")).status for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    throttled = await passwordless(client, authenticator)  # even a right one waits out the back-off
    assert throttled.status == 429 and "Retry-After" in throttled.headers


async def test_required_user_verification_refuses_a_passkey_that_did_not_verify(
    make_container: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(make_container(webauthn={"user_verification": "required"})))
    await signup(client)
    await login(client)
    options = await (await client.post("/users/me/webauthn/register/options", json=PROOF)).json()
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert (await register(client, SoftAuthenticator(user_verified=False))).status == 422
    assert (await register(client, SoftAuthenticator(user_verified=True))).status == 201
