"""ASVS v5 V6/V7 (and the V3 cookie and origin rows) pinned over HTTP against the app on 127.0.0.1.

Each test name carries the requirement id it pins; SECURITY.md maps the ids back here.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import PASSWORD, signup_and_login
from tests.helpers import ManualClock, cookie_value

Client = TestClient[Any, Any]


async def test_v7_2_1_session_checked_on_the_server_every_request(client: Client) -> None:
    await signup_and_login(client)
    assert (await client.get("/users/protected")).status == 200
    assert (await client.post("/users/logout")).status == 200
    assert (await client.get("/users/protected")).status == 401


async def test_v7_2_3_session_ids_are_unique_and_carry_at_least_128_bits(container: Any) -> None:
    registry = container.session_registry()
    ids = [(await registry.create("u" * 24))[0] for _ in range(500)]
    assert len(set(ids)) == len(ids)
    decoded = [base64.urlsafe_b64decode(i + "=" * (-len(i) % 4)) for i in ids]
    assert {len(raw) * 8 for raw in decoded} == {256}  # what the ids carry, not what a constant says
    assert len({raw[:2] for raw in decoded}) > 400  # spread over the whole space: not a counter or a fixed prefix


async def test_v7_3_1_idle_timeout_ends_session(client: Client, clock: ManualClock) -> None:
    await signup_and_login(client)
    clock.advance(1799)
    assert (await client.get("/users/protected")).status == 200  # renews
    clock.advance(1800)
    assert (await client.get("/users/protected")).status == 401


async def test_v7_3_2_absolute_lifetime_ends_active_session(client: Client, clock: ManualClock) -> None:
    await signup_and_login(client)
    for _ in range(43200 // 1200):
        clock.advance(1200)
        response = await client.get("/users/protected")
    assert response.status == 401


async def test_sliding_renewal_reissues_cookie_only_after_share_of_idle_window(
    client: Client, clock: ManualClock
) -> None:
    await signup_and_login(client)
    clock.advance(60)
    early = await client.get("/users/protected")
    clock.advance(200)
    late = await client.get("/users/protected")
    assert early.status == late.status == 200
    assert "Set-Cookie" not in early.headers
    assert "Max-Age=1800" in late.headers["Set-Cookie"]


async def test_verify_does_not_renew_idle_timer(client: Client, clock: ManualClock) -> None:
    await signup_and_login(client)
    for _ in range(3):
        clock.advance(900)
        await client.get("/auth/verify")
    assert (await client.get("/auth/verify")).status == 401


async def test_v7_4_2_deleting_account_ends_all_its_sessions(client: Client) -> None:
    other_device = await signup_and_login(client)
    deleted = await client.delete("/users/me", json={"password": PASSWORD})
    assert deleted.status == 200
    assert (await client.get("/users/protected")).status == 401
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={other_device}"})).status == 401
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 401


async def test_delete_account_needs_the_password(client: Client) -> None:
    await signup_and_login(client)
    response = await client.delete("/users/me", json={"password": "not my password"})
    assert response.status == 422
    assert (await client.get("/users/protected")).status == 200


async def test_v6_2_2_v6_2_3_v7_4_3_password_change_needs_current_and_ends_other_sessions(client: Client) -> None:
    other = await signup_and_login(client)
    await client.post("/users/login", json={"username": "alice", "password": PASSWORD})  # this device
    wrong = await client.post(
        "/users/me/password", json={"currentPassword": "nope nope", "newPassword": "brand new pass"}
    )
    assert wrong.status == 422
    changed = await client.post(
        "/users/me/password", json={"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
    )
    assert changed.status == 200
    assert (await client.get("/users/protected")).status == 200  # this session stays
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={other}"})).status == 401
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 401
    login = await client.post("/users/login", json={"username": "alice", "password": "a brand new passphrase"})
    assert login.status == 200


async def test_v6_2_4_password_change_refuses_common_password(client: Client) -> None:
    await signup_and_login(client)
    response = await client.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": "iloveyou1"})
    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "#/newPassword"


async def test_v7_5_2_user_lists_and_ends_sessions(client: Client) -> None:
    other = await signup_and_login(client)  # another device
    client.session.cookie_jar.clear()
    await client.post("/users/login", json={"username": "alice", "password": PASSWORD})  # this device
    listed = (await (await client.get("/users/me/sessions")).json())["sessions"]
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    assert {"id", "createdAt", "lastSeenAt", "ip", "userAgent", "current"} <= listed[0].keys()
    target = next(s for s in listed if not s["current"])
    assert (await client.delete(f"/users/me/sessions/{target['id']}")).status == 200
    assert (await client.delete(f"/users/me/sessions/{target['id']}")).status == 404
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={other}"})).status == 401


async def test_v7_5_2_end_every_other_session(client: Client) -> None:
    first = await signup_and_login(client)
    client.session.cookie_jar.clear()
    second_login = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    second = cookie_value(second_login.headers["Set-Cookie"])
    ended = await client.delete("/users/me/sessions")
    assert (await ended.json())["revoked"] == 1
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={first}"})).status == 401
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={second}"})).status == 200


async def test_v6_3_1_failed_logins_are_throttled_with_retry_after(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    for _ in range(10):  # one client's free failures on one account
        assert (await client.post("/users/login", json={"username": "alice", "password": "wrong!!!"})).status == 401
    throttled = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert throttled.status == 429
    assert throttled.content_type == "application/problem+json"
    assert 0 < int(throttled.headers["Retry-After"]) <= 900


async def test_v3_3_cookie_attributes(make_container: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(make_container(session={"secure": True, "host_prefix": True})))
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    login = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    set_cookie = login.headers["Set-Cookie"]
    assert set_cookie.startswith("__Host-sid=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=1800"):
        assert attribute in set_cookie
    assert "Domain" not in set_cookie
    logout = await client.post(
        "/users/logout", headers={"Cookie": f"__Host-sid={cookie_value(set_cookie, '__Host-sid')}"}
    )
    cleared = logout.headers["Set-Cookie"]
    assert cleared.startswith("__Host-sid=") and "Max-Age=0" in cleared and "Secure" in cleared


async def test_key_rotation_keeps_sessions_made_with_the_old_key(make_container: Any, aiohttp_client: Any) -> None:
    old_key, new_key = (await _fresh_key()), (await _fresh_key())
    before = make_container(session={"keys": [old_key]})
    client = await aiohttp_client(create_app(before))
    cookie = await signup_and_login(client)
    rotated = make_container(session={"keys": [new_key, old_key]})
    rotated.storage.override(before.storage)
    client2 = await aiohttp_client(create_app(rotated))
    assert (await client2.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 200
    retired = make_container(session={"keys": [new_key]})
    retired.storage.override(before.storage)
    client3 = await aiohttp_client(create_app(retired))
    assert (await client3.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 401


async def _fresh_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Referer": "https://evil.example/page"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "https://app.example"}, 200),  # configured
        ({}, 200),  # curl and services send neither
    ],
)
async def test_v3_5_1_cross_site_login_is_refused(
    make_container: Any, aiohttp_client: Any, headers: dict[str, str], status: int
) -> None:
    client = await aiohttp_client(create_app(make_container(csrf={"allowed_origins": ["https://app.example"]})))
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    response = await client.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=headers)
    assert response.status == status


async def test_same_origin_request_passes_csrf_check(client: Client) -> None:
    await signup_and_login(client)
    origin = f"http://{client.host}:{client.port}"
    assert (await client.post("/users/logout", headers={"Origin": origin})).status == 200


async def test_v3_5_1_cross_site_state_change_with_cookie_is_refused(client: Client) -> None:
    await signup_and_login(client)
    response = await client.delete("/users/me/sessions", headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert (await client.get("/users/protected")).status == 200


async def test_non_ascii_session_handle_is_404_not_500(client: Client) -> None:
    await signup_and_login(client)
    assert (await client.delete("/users/me/sessions/%C3%A9")).status == 404
