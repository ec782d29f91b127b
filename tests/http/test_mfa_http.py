"""TOTP, recovery codes and the login's second step, over HTTP against the app, with codes computed from the secret
and an injected clock. ASVS v5 6.3.3 (MFA), 6.5 (one-time codes), 7.4.3 and 7.5.1 (sessions and proof around
factor changes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.auth.factors import ENROLMENT_SECONDS
from authsvc.auth.mfa import WRONG_CODE
from authsvc.auth.service import ClientInfo
from authsvc.login.outcomes import NO_PENDING_LOGIN
from authsvc.web.app import create_app
from tests.driver import (
    PASSWORD,
    code_at,
    confirm_totp,
    enrol,
    login,
    mfa_login,
    protected_with,
    signup,
    start_totp,
)
from tests.helpers import TEST_KEY, ManualClock, cookie_value

TOKEN = "t" * 40
Client = TestClient[Any, Any]


@pytest.fixture
def app_client(make_container: Any, aiohttp_client: Any) -> Any:
    async def make(**sections: Any) -> Client:
        return await aiohttp_client(create_app(make_container(**sections)))

    return make


async def test_totp_enrolment_gives_secret_uri_and_qr_then_recovery_codes(client: Client, clock: ManualClock) -> None:
    await signup(client)
    await login(client)
    assert await (await client.get("/users/me/mfa")).json() == {"methods": [], "pending": [], "recoveryCodesLeft": 0}
    started = await client.post("/users/me/mfa/totp", json={"password": PASSWORD})
    body = await started.json()
    assert started.headers["Cache-Control"] == "no-store"
    assert body["otpauthUri"].startswith("otpauth://totp/authsvc:alice?secret=" + body["secret"])
    assert body["qrSvg"].startswith("<svg") and body["qrSvg"].endswith("</svg>")
    assert (await (await client.get("/users/me/mfa")).json())["pending"] == ["totp"]
    wrong = await confirm_totp(client, body["enrolmentToken"], "000000")
    assert wrong.status == 422
    confirmed = await confirm_totp(client, body["enrolmentToken"], code_at(body["secret"], clock))
    codes = (await confirmed.json())["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert await (await client.get("/users/me/mfa")).json() == {
        "methods": ["totp"],
        "pending": [],
        "recoveryCodesLeft": 10,
    }
    assert (await client.post("/users/me/mfa/totp", json={"password": PASSWORD})).status == 409  # remove it first


async def test_confirm_without_enrolment_is_409(client: Client) -> None:
    await signup(client)
    await login(client)
    assert (await confirm_totp(client, "t" * 100, "123456")).status == 409


async def test_v7_5_1_a_session_cookie_alone_cannot_start_a_totp_enrolment(client: Client) -> None:
    await signup(client)
    await login(client)  # the attacker holds this session's cookie, not the password
    assert (await client.post("/users/me/mfa/totp", json={})).status == 400
    wrong = await client.post("/users/me/mfa/totp", json={"password": "a guessed password"})
    assert wrong.status == 422
    assert (await wrong.json())["errors"] == [{"pointer": "#/password", "detail": "is wrong"}]
    assert await (await client.get("/users/me/mfa")).json() == {"methods": [], "pending": [], "recoveryCodesLeft": 0}


async def test_v7_5_1_only_the_enrolment_token_of_this_session_confirms_the_pending_secret(
    client: Client, clock: ManualClock
) -> None:
    await signup(client)
    await login(client)
    secret, token = await start_totp(client)  # the owner, with the password
    code = code_at(secret, clock)  # even knowing a code, a cookie without the token confirms nothing
    no_token = await client.post("/users/me/mfa/totp/confirm", json={"code": code})
    assert no_token.status == 400
    forged = await confirm_totp(client, token[:-4] + "AAAA", code)
    assert forged.status == 422
    assert (await forged.json())["errors"] == [
        {"pointer": "#/enrolmentToken", "detail": "is not this session's pending enrolment"}
    ]
    client.session.cookie_jar.clear()
    await login(client)  # another session of the same user
    assert (await confirm_totp(client, token, code)).status == 422
    assert (await (await client.get("/users/me/mfa")).json())["methods"] == []


async def test_an_enrolment_token_expires_and_dies_with_a_restarted_enrolment(
    client: Client, clock: ManualClock
) -> None:
    await signup(client)
    await login(client)
    secret, token = await start_totp(client)
    clock.advance(ENROLMENT_SECONDS + 1)
    assert (await confirm_totp(client, token, code_at(secret, clock))).status == 422
    _, first_token = await start_totp(client)
    second_secret, second_token = await start_totp(client)  # replaces the pending secret
    assert (await confirm_totp(client, first_token, code_at(second_secret, clock))).status == 422
    assert (await confirm_totp(client, second_token, code_at(second_secret, clock))).status == 200


async def test_v6_3_1_wrong_passwords_at_enrolment_count_like_failed_logins(
    app_client: Any, clock: ManualClock
) -> None:
    client = await app_client(throttle={"client_max_failures": 3})
    await signup(client)
    await login(client)
    for _ in range(3):
        wrong = await client.post("/users/me/mfa/totp", json={"password": "a guessed password"})
        assert wrong.status == 422
    throttled = await client.post("/users/me/mfa/totp", json={"password": PASSWORD})
    assert throttled.status == 429 and throttled.content_type == "application/problem+json"
    assert int(throttled.headers["Retry-After"]) > 0
    assert (await login(client)).status == 429  # the login throttle's own counters
    clock.advance(int(throttled.headers["Retry-After"]))
    await start_totp(client)


async def test_v6_3_1_wrong_codes_in_a_proof_count_like_failed_logins(app_client: Any, clock: ManualClock) -> None:
    client = await app_client(throttle={"client_max_failures": 3})
    secret, _ = await enrol(client, clock)
    await mfa_login(client, code_at(secret, clock))
    clock.advance(601)  # an old session: the password alone is not enough
    for body in ({"password": PASSWORD}, {"password": PASSWORD, "code": "000000"}, {"password": PASSWORD, "code": "1"}):
        assert (await client.delete("/users/me/mfa/totp", json=body)).status == 422
    right = {"password": PASSWORD, "code": code_at(secret, clock)}
    throttled = await client.delete("/users/me/mfa/totp", json=right)
    assert throttled.status == 429
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (await client.delete("/users/me/mfa/totp", json=right)).status == 200


async def test_v6_3_3_enrolled_user_gets_no_session_verify_or_protected_without_second_factor(
    app_client: Any, clock: ManualClock
) -> None:
    client = await app_client(introspection={"enabled": True, "tokens": [{"name": "svc", "token": TOKEN}]})
    secret, _ = await enrol(client, clock)
    client.session.cookie_jar.clear()
    first = await login(client)
    assert first.status == 200
    assert await first.json() == {"msg": "Second factor required", "mfa": {"methods": ["totp"]}}
    assert "sid" not in first.cookies  # no session cookie at all, only the pending one
    pending = cookie_value(first.headers["Set-Cookie"], "sid_mfa")
    for path in ("/users/protected", "/auth/verify", "/auth/session", "/users/me/mfa", "/users/me/sessions"):
        assert (await client.get(path)).status == 401, path
    assert (await client.get("/auth/forward-auth", headers={"Accept": "application/json"})).status == 401
    # The pending token presented as a session cookie is no session either.
    assert await protected_with(client, pending) == 401
    introspected = await client.post(
        "/internal/sessions/introspect", json={"session": pending}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert await introspected.json() == {"active": False}

    second = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert second.status == 200
    body = await second.json()
    assert body["msg"] == "User logged in" and body["User"]["userName"] == "alice"
    assert "Max-Age=0" in str(second.headers.getall("Set-Cookie"))  # the pending cookie is cleared
    assert (await client.get("/users/protected")).status == 200
    assert (await client.get("/auth/verify")).status == 200


async def test_second_step_opens_a_new_session_and_ends_the_previous_one(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    before = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sid"].value
    response = await mfa_login(client, code_at(secret, clock))
    after = response.cookies["sid"].value
    assert after != before
    assert await protected_with(client, before) == 401
    assert await protected_with(client, after) == 200


async def test_v6_5_1_totp_code_is_accepted_once(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    code = code_at(secret, clock)
    assert (await mfa_login(client, code)).status == 200
    replay = await mfa_login(client, code)
    assert replay.status == 401
    assert (await replay.json())["detail"] == WRONG_CODE
    clock.advance(30)
    assert (await mfa_login(client, code_at(secret, clock))).status == 200


async def test_v6_5_1_confirming_code_cannot_log_in(client: Client, clock: ManualClock) -> None:
    await signup(client)
    await login(client)
    secret, token = await start_totp(client)
    code = code_at(secret, clock)
    assert (await confirm_totp(client, token, code)).status == 200
    assert (await mfa_login(client, code)).status == 401


async def test_one_step_of_drift_either_way_and_no_more(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    clock.advance(120)
    assert (await mfa_login(client, code_at(secret, clock, -2))).status == 401
    assert (await mfa_login(client, code_at(secret, clock, +2))).status == 401
    assert (await mfa_login(client, code_at(secret, clock, -1))).status == 200
    assert (await mfa_login(client, code_at(secret, clock, +1))).status == 200
    # The step after is used: the current one is now older than the last used step and refused.
    assert (await mfa_login(client, code_at(secret, clock))).status == 401


async def test_v6_5_1_recovery_code_works_once(client: Client, clock: ManualClock) -> None:
    _, codes = await enrol(client, clock)
    assert (await mfa_login(client, codes[0].upper().replace("-", ""))).status == 200
    again = await mfa_login(client, codes[0])
    assert again.status == 401
    assert (await again.json())["detail"] == WRONG_CODE
    assert (await (await client.get("/users/me/mfa")).json())["recoveryCodesLeft"] == 9
    assert (await mfa_login(client, codes[1])).status == 200


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abc", "zzzz-zzzz-zzzz-zzzz", "\u0661" * 6, "x" * 5000])
async def test_any_wrong_code_gets_the_same_401(client: Client, clock: ManualClock, code: str) -> None:
    await enrol(client, clock)
    response = await mfa_login(client, code)
    assert response.status == 401
    assert (await response.json())["detail"] == WRONG_CODE


async def test_second_step_without_pending_login_is_401(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    client.session.cookie_jar.clear()
    response = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert response.status == 401
    assert (await response.json())["detail"] == NO_PENDING_LOGIN
    forged = await client.post("/users/login/mfa", json={"code": "123456"}, headers={"Cookie": "sid_mfa=forged"})
    assert forged.status == 401


async def test_pending_login_expires_after_pending_seconds(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    assert (await login(client)).status == 200
    clock.advance(301)
    response = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert response.status == 401
    assert (await response.json())["detail"] == NO_PENDING_LOGIN


async def test_pending_login_is_single_use(client: Client, clock: ManualClock) -> None:
    secret, codes = await enrol(client, clock)
    assert (await login(client)).status == 200
    pending = client.session.cookie_jar.filter_cookies(client.make_url("/"))["sid_mfa"].value
    assert (await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})).status == 200
    reused = await client.post("/users/login/mfa", json={"code": codes[0]}, headers={"Cookie": f"sid_mfa={pending}"})
    assert reused.status == 401
    assert (await reused.json())["detail"] == NO_PENDING_LOGIN


async def test_pending_login_ends_after_too_many_wrong_codes(app_client: Any, clock: ManualClock) -> None:
    client = await app_client()
    secret, _ = await enrol(client, clock)
    assert (await login(client)).status == 200
    for _ in range(5):
        assert (await client.post("/users/login/mfa", json={"code": "000000"})).status == 401
    ended = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert ended.status == 401
    assert (await ended.json())["detail"] == NO_PENDING_LOGIN
    assert (await mfa_login(client, code_at(secret, clock))).status == 200  # a new login starts afresh


async def test_v6_3_1_wrong_codes_count_like_failed_logins(app_client: Any, clock: ManualClock) -> None:
    client = await app_client(throttle={"client_max_failures": 3})
    secret, _ = await enrol(client, clock)
    assert (await login(client)).status == 200  # counted until the second factor succeeds
    for _ in range(2):
        assert (await client.post("/users/login/mfa", json={"code": "000000"})).status == 401
    throttled = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert throttled.status == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert (await login(client)).status == 429  # and the password step too
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})).status == 200


async def test_user_without_second_factor_sees_no_change(client: Client) -> None:
    await signup(client)
    response = await login(client)
    body = await response.json()
    assert body == {"User": {"userId": body["User"]["userId"], "userName": "alice"}, "msg": "User logged in"}
    assert "sid_mfa" not in response.cookies
    assert (await client.post("/users/login/mfa", json={"code": "123456"})).status == 401


async def test_v7_4_3_enrolling_ends_other_sessions(app_client: Any, aiohttp_client: Any, clock: ManualClock) -> None:
    client = await app_client()
    await signup(client)
    await login(client)
    other = (await login(client)).cookies["sid"].value
    client.session.cookie_jar.clear()  # another device
    await login(client)
    secret, token = await start_totp(client)
    assert await protected_with(client, other) == 200
    await confirm_totp(client, token, code_at(secret, clock))
    assert await protected_with(client, other) == 401
    assert (await client.get("/users/protected")).status == 200


async def test_v7_4_3_v7_5_1_removing_totp_needs_the_password_and_ends_other_sessions(
    client: Client, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)
    other = (await mfa_login(client, code_at(secret, clock))).cookies["sid"].value
    client.session.cookie_jar.clear()  # another device
    clock.advance(30)
    await mfa_login(client, code_at(secret, clock))
    assert await protected_with(client, other) == 200
    wrong = await client.delete("/users/me/mfa/totp", json={"password": "not the password"})
    assert wrong.status == 422
    assert (await client.delete("/users/me/mfa/totp", json={"password": PASSWORD})).status == 200
    assert await protected_with(client, other) == 401
    assert (await (await client.get("/users/me/mfa")).json())["methods"] == []
    client.session.cookie_jar.clear()
    assert (await (await login(client)).json())["msg"] == "User logged in"
    assert (await client.delete("/users/me/mfa/totp", json={"password": PASSWORD})).status == 404


async def test_v7_5_1_old_session_removes_totp_only_with_a_code(client: Client, clock: ManualClock) -> None:
    secret, codes = await enrol(client, clock)
    await mfa_login(client, code_at(secret, clock))
    clock.advance(601)
    refused = await client.delete("/users/me/mfa/totp", json={"password": PASSWORD})
    assert refused.status == 422
    assert (await refused.json())["errors"] == [{"pointer": "#/code", "detail": "is required"}]
    wrong = await client.delete("/users/me/mfa/totp", json={"password": PASSWORD, "code": "000000"})
    assert wrong.status == 422
    assert (await client.delete("/users/me/mfa/totp", json={"password": PASSWORD, "code": codes[3]})).status == 200


async def test_v7_5_1_old_session_of_enrolled_user_changes_password_only_with_a_code(
    client: Client, clock: ManualClock
) -> None:
    secret, _ = await enrol(client, clock)
    await mfa_login(client, code_at(secret, clock))
    clock.advance(601)
    change = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    refused = await client.post("/users/me/password", json=change)
    assert refused.status == 422
    assert (await refused.json())["errors"] == [{"pointer": "#/code", "detail": "is required"}]
    assert (await client.post("/users/me/password", json={**change, "code": code_at(secret, clock)})).status == 200


async def test_fresh_session_changes_password_without_a_code(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    await mfa_login(client, code_at(secret, clock))
    change = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    assert (await client.post("/users/me/password", json=change)).status == 200


async def test_v6_5_2_totp_secret_is_sealed_and_recovery_codes_hashed_at_rest_across_key_rotation(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    from cryptography.fernet import Fernet

    old = make_container()
    client = await aiohttp_client(create_app(old))
    secret, _ = await enrol(client, clock)
    user = await old.storage().users.find_by_username("alice")
    stored = await old.storage().second_factors.get(user.id)
    assert secret not in stored.totp_secret
    assert all(len(h) == 64 for h in stored.recovery_code_hashes)
    rotated = make_container(session={"keys": [Fernet.generate_key().decode(), TEST_KEY]})
    rotated.storage.override(old.storage())
    rotated_client = await aiohttp_client(create_app(rotated))
    assert (await mfa_login(rotated_client, code_at(secret, clock))).status == 200


async def test_deleting_the_account_deletes_its_second_factors(
    client: Client, container: Any, clock: ManualClock
) -> None:
    await enrol(client, clock)
    user = await container.storage().users.find_by_username("alice")
    assert (await client.delete("/users/me", json={"password": PASSWORD})).status == 200
    assert await container.storage().second_factors.get(user.id) is None


async def test_concurrent_wrong_codes_cannot_pass_the_pending_logins_cap(client: Client, clock: ManualClock) -> None:
    await enrol(client, clock)
    assert (await login(client)).status == 200
    answers = await asyncio.gather(*(client.post("/users/login/mfa", json={"code": "000000"}) for _ in range(8)))
    details = [(await answer.json())["detail"] for answer in answers]
    assert details.count(WRONG_CODE) == 5
    assert details.count(NO_PENDING_LOGIN) == 3


async def test_two_pending_login_cookies_are_no_pending_login(client: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(client, clock)
    client.session.cookie_jar.clear()
    pending = (await login(client)).cookies["sid_mfa"].value
    client.session.cookie_jar.clear()
    planted = {"Cookie": f"sid_mfa={pending}; sid_mfa=planted"}
    refused = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)}, headers=planted)
    assert (await refused.json())["detail"] == NO_PENDING_LOGIN
    alone = {"Cookie": f"sid_mfa={pending}"}
    assert (await client.post("/users/login/mfa", json={"code": code_at(secret, clock)}, headers=alone)).status == 200


async def test_second_factor_login_still_needs_a_verified_address_when_required(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    container = make_container(users={"require_verified_email": True})
    client = await aiohttp_client(create_app(container))
    await signup(client)
    # Arrange through the services: any login is refused for want of a verified address, as it should be, so the
    # session that enrols is opened directly.
    auth, mfa = container.auth_service(), container.mfa_service()
    user = await container.users_repository().find_by_username("alice")
    assert user is not None
    session_id, _ = await container.session_registry().create(user.id, factors=("password",))
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None
    enrolment = await mfa.begin_totp(authenticated, PASSWORD, ClientInfo(ip="192.0.2.1"))
    await mfa.confirm_totp(authenticated, enrolment.token, code_at(enrolment.secret, clock))
    secret = enrolment.secret
    clock.advance(30)
    first = await login(client)
    assert (await first.json())["msg"] == "Second factor required"
    second = await client.post("/users/login/mfa", json={"code": code_at(secret, clock)})
    assert second.status == 403
    assert (await client.get("/users/protected")).status == 401
