"""Issue 10's security review, one regression test (or more) per numbered finding, over HTTP against the app.

The numbers are the review's ("Why", 1-9). Each test failed on the code the review was made against. Finding 3 on
MongoDB documents is in tests/contract/test_findings_mongo.py; the process-level parts of finding 8 (protocol errors,
check-config) are in tests/e2e/test_findings_process.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import aiohttp
import bcrypt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from aiohttp_session import get_session, session_middleware
from bson import ObjectId
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from authsvc.auth.keys import load_session_keys
from authsvc.auth.service import ClientInfo
from authsvc.config import ConfigError, load_settings
from authsvc.containers import Container
from authsvc.errors import TooManyRequests, Unauthorized
from authsvc.storage.mongo.users import _user
from authsvc.web.app import create_app
from authsvc.web.edge.guards import login_required
from authsvc.web.edge.middlewares import (
    Handler,
    csrf_checked,
    csrf_exempt,
    forwarded_middleware,
    gateway_check,
    without_zone,
)
from tests.driver import PASSWORD, signup_and_login
from tests.helpers import TEST_KEY, ManualClock, cookie_value, free_port, sign_in

Client = TestClient[Any, Any]
CLIENT = ClientInfo(ip="192.0.2.10", user_agent="pytest")


async def two_users_logged_in(client: Client) -> tuple[str, str]:
    """Arrange: alice (the victim) and mallory (the attacker) each hold a live session; the jar holds neither."""
    victim = await signup_and_login(client, "alice")
    client.session.cookie_jar.clear()
    attacker = await signup_and_login(client, "mallory")
    client.session.cookie_jar.clear()
    return victim, attacker


# Finding 1: two cookies of our name were read by two parsers (a session swap, a logout that ended only one).


async def test_finding1_duplicate_session_cookies_are_unauthenticated(client: Client) -> None:
    victim, attacker = await two_users_logged_in(client)
    for header in (f"sid={victim}; sid={attacker}", f"sid={attacker}; theme=dark; sid={victim}"):
        for path in ("/users/protected", "/auth/session", "/auth/verify", "/users/me/sessions"):
            response = await client.get(path, headers={"Cookie": header})
            assert response.status == 401, (path, header)
            assert "Set-Cookie" not in response.headers
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={victim}"})).status == 200


async def test_finding1_account_deletion_with_two_cookies_deletes_nothing(client: Client) -> None:
    victim, attacker = await two_users_logged_in(client)
    both = {"Cookie": f"sid={victim}; sid={attacker}"}
    assert (await client.delete("/users/me", json={"password": PASSWORD}, headers=both)).status == 401
    for cookie in (victim, attacker):
        assert (await client.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 200


async def test_finding1_logout_ends_every_session_named(client: Client) -> None:
    victim, attacker = await two_users_logged_in(client)
    logout = await client.post("/users/logout", headers={"Cookie": f"sid={victim}; sid={attacker}"})
    assert logout.status == 200 and "Max-Age=0" in logout.headers["Set-Cookie"]
    for cookie in (victim, attacker):
        assert (await client.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 401


async def test_finding1_renewal_reissues_the_session_that_was_authenticated(
    client: Client, container: Container, clock: ManualClock
) -> None:
    victim, _ = await two_users_logged_in(client)
    clock.advance(200)  # past renew_after (10% of 1800 s)
    renewed = await client.get("/users/protected", headers={"Cookie": f"sid={victim}"})
    assert renewed.status == 200
    cookies = container.session_cookies()
    reissued = cookie_value(renewed.headers["Set-Cookie"])
    assert reissued != victim and cookies.session_ids(reissued) == cookies.session_ids(victim)


def test_finding1_aiohttp_session_reads_our_cookie_with_our_parser(container: Container) -> None:
    cookies = container.session_cookies()
    for header, expected in [("sid=a; sid=b", None), ("x=1; sid=b", "b"), ('sid="c"', "c"), ("sidx=d", None)]:
        request = make_mocked_request("GET", "/", headers={"Cookie": header})
        assert cookies.load_cookie(request) == cookies.value_in(header) == expected


def test_finding1_staging_names_the_cookie_with_the_host_prefix() -> None:
    environ = {"AUTHSVC__SESSION__KEYS": TEST_KEY, "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com"}
    assert load_settings(env="staging", environ=environ).session.host_prefix is True


# Finding 2: GET (and HEAD) /users/logout worked cross-site.


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://evil.example"},
        {"Referer": "http://evil.example/page"},
        {"Sec-Fetch-Site": "cross-site", "Referer": "http://evil.example/"},
    ],
)
async def test_finding2_cross_site_get_logout_is_refused(client: Client, headers: dict[str, str]) -> None:
    await signup_and_login(client)
    response = await client.get("/users/logout", headers=headers)
    assert response.status == 403 and response.content_type == "application/problem+json"
    assert (await client.get("/users/protected")).status == 200


async def test_finding2_same_site_get_logout_still_works(client: Client) -> None:
    await signup_and_login(client)
    same = {"Sec-Fetch-Site": "same-origin", "Referer": f"http://{client.host}:{client.port}/app"}
    assert (await client.get("/users/logout", headers=same)).status == 200
    assert (await client.get("/users/protected")).status == 401


async def test_finding2_head_logout_is_not_served(client: Client) -> None:
    await signup_and_login(client)
    assert (await client.head("/users/logout")).status == 405
    assert (await client.get("/users/protected")).status == 200


# Finding 4: a wrong password on a legacy low-cost hash answered faster than an unknown user.


async def test_finding4_unknown_user_and_legacy_cost_user_take_equal_time(make_container: Any) -> None:
    # Configured cost 10 against a tutorial hash of cost 4: 64 times less bcrypt work without the top-up.
    container = make_container(passwords={"bcrypt_cost": 10}, throttle={"account_max_failures": 100})
    legacy = bcrypt.hashpw(b"the tutorial's password", bcrypt.gensalt(4)).decode().replace("$2b$", "$2a$", 1)
    await container.users_repository().create("legacy", legacy, 0.0)
    await container.users_repository().create("malformed", "$2a$04$not-a-hash", 0.0)

    async def seconds(name: str) -> float:
        started = time.perf_counter()
        with pytest.raises(Unauthorized):
            await sign_in(container, name, "wrong password", CLIENT)
        return time.perf_counter() - started

    timings: dict[str, list[float]] = {"legacy": [], "malformed": [], "nobody": []}
    for _ in range(7):
        for name, samples in timings.items():
            samples.append(await seconds(name))
    # The fastest of each: on a busy machine waiting only ever adds time, so the minimum is the work itself.
    unknown = min(timings["nobody"])
    for name in ("legacy", "malformed"):
        ratio = min(timings[name]) / unknown
        assert 0.5 < ratio < 2, f"{name}: {ratio:.2f} times the unknown user's time"


# Finding 5: production accepted weak settings (tests/unit/test_config.py has the original refusals).


def production(**extra: str) -> dict[str, str]:
    return {
        "AUTHSVC__SESSION__KEYS": TEST_KEY,
        "AUTHSVC__INTROSPECTION__TOKENS": "billing:" + secrets.token_urlsafe(32),
        "AUTHSVC__LOGGING__AUDIT_KEY": "a" * 40,
        "AUTHSVC__SERVER__PUBLIC_URL": "https://auth.example.com",
        **extra,
    }


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"AUTHSVC__SERVER__TRUSTED_PROXIES": '["0.0.0.0/0"]'}, ["server.trusted_proxies", "/8"]),
        ({"AUTHSVC__SERVER__TRUSTED_PROXIES": '["10.0.0.0/7"]'}, ["server.trusted_proxies", "/8"]),
        ({"AUTHSVC__SERVER__TRUSTED_PROXIES": '["::/0"]'}, ["server.trusted_proxies", "/32"]),
        ({"AUTHSVC__PASSWORDS__BCRYPT_COST": "4"}, ["passwords.bcrypt_cost", "10"]),
        ({"AUTHSVC__PASSWORDS__BCRYPT_COST": "9"}, ["passwords.bcrypt_cost", "10"]),
        ({"AUTHSVC__PASSWORDS__MIN_LENGTH": "1"}, ["passwords.min_length", "8"]),
        ({"AUTHSVC__PASSWORDS__MIN_LENGTH": "7"}, ["passwords.min_length", "8"]),
        ({"AUTHSVC__PASSWORDS__REJECT_COMMON": "false"}, ["passwords.reject_common"]),
        (
            {"AUTHSVC__SESSION__IDLE_TIMEOUT": "86401", "AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "86401"},
            ["session.idle_timeout", "86400"],
        ),
        ({"AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "2592001"}, ["session.absolute_lifetime", "2592000"]),
        ({"AUTHSVC__CSRF__ALLOWED_ORIGINS": '["null"]'}, ["csrf.allowed_origins", "'null'"]),
        ({"AUTHSVC__CSRF__ALLOWED_ORIGINS": '["http://app.example"]'}, ["csrf.allowed_origins", "https://"]),
        ({"AUTHSVC__LOGGING__AUDIT_KEY": ""}, ["logging.audit_key"]),
    ],
)
def test_finding5_production_refuses_weak_settings_naming_key_and_limit(
    environ: dict[str, str], named: list[str]
) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(env="production", environ=production(**environ))
    for text in named:
        assert text in str(refused.value)


@pytest.mark.parametrize(
    "environ",
    [
        {"AUTHSVC__SERVER__TRUSTED_PROXIES": '["10.0.0.0/8", "2001:db8::/32"]'},
        {"AUTHSVC__SERVER__TRUSTED_PROXIES": '["0.0.0.0/0"]', "AUTHSVC__SERVER__TRUSTED_PROXIES_ANY": "true"},
        {"AUTHSVC__PASSWORDS__BCRYPT_COST": "10", "AUTHSVC__PASSWORDS__MIN_LENGTH": "8"},
        {"AUTHSVC__SESSION__IDLE_TIMEOUT": "86400", "AUTHSVC__SESSION__ABSOLUTE_LIFETIME": "2592000"},
        {"AUTHSVC__CSRF__ALLOWED_ORIGINS": '["https://app.example"]'},
    ],
)
def test_finding5_production_accepts_settings_at_the_limits(environ: dict[str, str]) -> None:
    load_settings(env="production", environ=production(**environ))


def test_finding5_development_keeps_its_latitude() -> None:
    settings = load_settings(
        environ={"AUTHSVC__PASSWORDS__BCRYPT_COST": "4", "AUTHSVC__SERVER__TRUSTED_PROXIES": '["0.0.0.0/0"]'}
    )
    assert settings.passwords.bcrypt_cost == 4


# Finding 6: cookie values were malleable (Fernet's decoder skips characters outside base64url).


@pytest.mark.parametrize("junk", ["!", "*", "\\", "%", ".", " "])
async def test_finding6_cookie_with_inserted_characters_is_refused(client: Client, junk: str) -> None:
    cookie = await signup_and_login(client)
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={cookie}"})).status == 200
    tampered = cookie[:20] + junk + cookie[20:]
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={tampered}"})).status == 401


def test_finding6_only_strict_base64url_values_are_decoded_or_cached(container: Container) -> None:
    cookies = container.session_cookies()
    assert cookies.session_ids("gAAAAA!!!") is None and cookies.session_ids("abc=def") is None
    for n in range(100):
        cookies.session_ids(f"gAAAAA{'*' * n}")
    assert cookies._decoded == {}


# Finding 7: sessions per user were unbounded.


async def test_finding7_login_beyond_the_limit_ends_the_least_recently_used_session(
    make_container: Any, clock: ManualClock
) -> None:
    container = make_container(session={"max_per_user": 3})
    await container.users_service().signup("alice", PASSWORD)
    auth = container.auth_service()
    user, first = await sign_in(container, "alice", PASSWORD, CLIENT)
    clock.advance(1)
    _, second = await sign_in(container, "alice", PASSWORD, CLIENT)
    clock.advance(1)
    _, third = await sign_in(container, "alice", PASSWORD, CLIENT)
    clock.advance(200)
    assert await auth.authenticate(first, user.id) is not None  # renews: now the most recently used
    _, fourth = await sign_in(container, "alice", PASSWORD, CLIENT)
    assert await auth.authenticate(second, user.id) is None
    for live in (first, third, fourth):
        assert await auth.authenticate(live, user.id) is not None
    assert len(await auth.list_sessions(user.id)) == 3


async def test_finding7_sessions_list_is_bounded(make_container: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(make_container(session={"max_per_user": 5})))
    await signup_and_login(client)
    for _ in range(12):
        client.session.cookie_jar.clear()
        assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    sessions = (await (await client.get("/users/me/sessions")).json())["sessions"]
    assert len(sessions) == 5 and sum(s["current"] for s in sessions) == 1


# Finding 8: the edges.


@pytest.fixture
async def proxied(make_container: Any, aiohttp_client: Any) -> Client:
    """The app behind a trusted proxy on 127.0.0.1 (the test client's address)."""
    client: Client = await aiohttp_client(create_app(make_container(server={"trusted_proxies": ["127.0.0.1/32"]})))
    return client


async def test_finding8_no_server_header(client: Client) -> None:
    for response in (await client.get("/healthz"), await client.get("/nowhere"), await client.post("/users/login")):
        assert "Server" not in response.headers


async def test_finding8_forwarded_proto_alone_is_believed_from_a_trusted_proxy(proxied: Client) -> None:
    await proxied.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    origin = {"X-Forwarded-Proto": "https", "Origin": f"https://{proxied.host}:{proxied.port}"}
    login = await proxied.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=origin)
    assert login.status == 200
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    plain = await proxied.post(
        "/users/login", json={"username": "alice", "password": PASSWORD}, headers=origin | {"X-Forwarded-Proto": "http"}
    )
    assert plain.status == 403  # an https Origin on a plain-http request is cross-origin
    bad = await proxied.get("/healthz", headers={"X-Forwarded-Proto": "gopher"})
    assert bad.status == 400 and bad.content_type == "application/problem+json"


async def test_finding8_forwarded_proto_alone_is_ignored_from_an_untrusted_peer(client: Client) -> None:
    response = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers


async def test_finding8_ipv6_scope_ids_are_dropped(proxied: Client) -> None:
    await proxied.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    for n in range(10):  # the per-IP limit: one client, whatever interface id it adds
        scoped = {"X-Forwarded-For": f"fe80::1%{n}"}
        await proxied.post("/users/login", json={"username": "alice", "password": "wrong!!!"}, headers=scoped)
    throttled = await proxied.post(
        "/users/login", json={"username": "alice", "password": PASSWORD}, headers={"X-Forwarded-For": "fe80::1%99"}
    )
    assert throttled.status == 429
    other = {"X-Forwarded-For": "fe80:0:0:1::2%eth0"}  # another /64: another client (issue 11)
    login = await proxied.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=other)
    assert login.status == 200
    sessions = (await (await proxied.get("/users/me/sessions")).json())["sessions"]
    assert [s["ip"] for s in sessions] == ["fe80:0:0:1::2"]


async def test_finding8_audit_names_the_targeted_account_by_a_keyed_hash(
    make_container: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = "k" * 40
    container = make_container(logging={"audit_key": key}, throttle={"account_max_failures": 1})
    await container.users_service().signup("alice", PASSWORD)
    with caplog.at_level(logging.INFO, logger="authsvc.audit"):
        with pytest.raises(Unauthorized):
            await sign_in(container, "ALICE", "wrong password", CLIENT)
        with pytest.raises(TooManyRequests):
            await sign_in(container, "alice", PASSWORD, CLIENT)
    expected = hmac.new(key.encode(), b"alice", hashlib.sha256).hexdigest()[:32]
    lines = {record.__dict__["event"]: record for record in caplog.records if "event" in record.__dict__}
    for event in ("login.failure", "login.throttled"):
        assert lines[event].__dict__["account"] == expected
        assert "alice" not in str(lines[event].__dict__).lower()


def test_finding8_audit_key_is_required_outside_development(make_container: Any) -> None:
    with pytest.raises(ConfigError, match=r"logging\.audit_key"):
        make_container(env="staging", session={"keys": [TEST_KEY]}).audit_pseudonyms()
    development = make_container()
    assert development.audit_pseudonyms().of("alice") != make_container().audit_pseudonyms().of("alice")


async def test_finding8_metrics_port_serves_metrics_apart(make_container: Any, aiohttp_client: Any) -> None:
    port = free_port()
    client = await aiohttp_client(create_app(make_container(server={"metrics_port": port})))
    assert (await client.get("/metrics")).status == 404
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as metrics:
        assert metrics.status == 200
        assert "authsvc_logins" in await metrics.text()
        assert metrics.headers["X-Content-Type-Options"] == "nosniff"


async def test_finding8_forwarded_host_keeps_the_forwarded_client_and_scheme(proxied: Client) -> None:
    await proxied.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "other.example"}
    login = await proxied.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=forwarded)
    assert login.status == 200
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    sessions = (await (await proxied.get("/users/me/sessions")).json())["sessions"]
    assert sessions[0]["ip"] == "203.0.113.9"


# Finding 9: survivors of the mutation run, each killed by asserting the behaviour it stood for.


async def test_finding9_forwarded_for_is_ignored_from_an_untrusted_peer_with_proxies_configured(
    make_container: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(make_container(server={"trusted_proxies": ["10.0.0.0/8"]})))
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    spoofed = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    login = await client.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=spoofed)
    assert "Strict-Transport-Security" not in login.headers
    sessions = (await (await client.get("/users/me/sessions")).json())["sessions"]
    assert sessions[0]["ip"] == "127.0.0.1"


async def test_finding9_purge_does_not_reset_throttle_counters(make_container: Any, clock: ManualClock) -> None:
    container = make_container(throttle={"account_max_failures": 3})
    await container.users_service().signup("alice", PASSWORD)
    for _ in range(3):
        with pytest.raises(Unauthorized):
            await sign_in(container, "alice", "wrong password", CLIENT)
    await container.storage().purge_expired(clock.now())
    with pytest.raises(TooManyRequests):
        await sign_in(container, "alice", PASSWORD, CLIENT)


async def test_finding9_account_deletion_removes_the_session_records(container: Container) -> None:
    await container.users_service().signup("alice", PASSWORD)
    auth = container.auth_service()
    user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    await sign_in(container, "alice", PASSWORD, CLIENT)
    authenticated = await auth.authenticate(session_id, user.id)
    assert authenticated is not None
    await auth.delete_account(authenticated, PASSWORD)
    assert await container.sessions_repository().list_for_user(user.id, container.clock().now()) == []


@pytest.mark.parametrize("referer", ["http://[::1", "http://exa mple.com:99999/", "http://[not-an-ip]/"])
async def test_finding9_unparsable_referer_is_refused(client: Client, referer: str) -> None:
    await signup_and_login(client)
    assert (await client.post("/users/logout", headers={"Referer": referer})).status == 403
    assert (await client.get("/users/protected")).status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_finding9_every_unsafe_method_is_origin_checked(client: Client, method: str) -> None:
    await signup_and_login(client)
    response = await client.request(method, "/users/me", headers={"Origin": "https://evil.example"})
    assert response.status == 403


async def test_finding9_duplicate_json_keys_are_refused(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    body = f'{{"username": "alice", "password": "{PASSWORD}", "password": "{PASSWORD}"}}'
    response = await client.post("/users/login", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["detail"] == "The body is not valid JSON."


async def test_finding9_clients_without_an_address_share_no_ip_bucket(make_container: Any) -> None:
    container = make_container(throttle={"account_max_failures": 100, "address_free_names": 2})
    await container.users_service().signup("alice", PASSWORD)
    nowhere = ClientInfo(ip=None)
    for name in ("bob", "carol", "dave", "erin"):  # past the free names an address would be slowed
        with pytest.raises(Unauthorized):
            await sign_in(container, name, "wrong password", nowhere)
    await sign_in(container, "alice", PASSWORD, nowhere)


async def test_finding9_every_audit_event_is_logged(
    make_container: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    token = "t" * 40
    container = make_container(
        introspection={"enabled": True, "tokens": [{"name": "billing", "token": token}]},
        throttle={"account_max_failures": 2, "client_max_failures": 2},  # bob's browser holds a device cookie
    )
    client = await aiohttp_client(create_app(container))
    with caplog.at_level(logging.INFO, logger="authsvc.audit"):
        cookie = await signup_and_login(client)
        client.session.cookie_jar.clear()
        assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
        listed = (await (await client.get("/users/me/sessions")).json())["sessions"]
        other = next(s["id"] for s in listed if not s["current"])
        assert (await client.delete(f"/users/me/sessions/{other}")).status == 200
        assert (await client.delete("/users/me/sessions")).status == 200
        auth = {"Authorization": f"Bearer {token}"}
        await client.post("/internal/sessions/introspect", json={"session": cookie}, headers=auth)
        new = {"currentPassword": PASSWORD, "newPassword": "a brand new passphrase"}
        assert (await client.post("/users/me/password", json=new)).status == 200
        assert (await client.delete("/users/me", json={"password": "a brand new passphrase"})).status == 200
        await signup_and_login(client, "bob")
        assert (await client.post("/users/logout")).status == 200
        for _ in range(3):
            await client.post("/users/login", json={"username": "bob", "password": "wrong password"})
        assert await container.auth_service().end_sessions_of("bob") == 0
    events = [record.__dict__.get("event") for record in caplog.records]
    for event in (
        "signup",
        "login.success",
        "login.failure",
        "login.throttled",
        "session.revoke",
        "session.revoke_all",
        "introspect",
        "password.change",
        "account.delete",
        "logout",
    ):
        assert event in events, event
    assert events.count("session.revoke_all") == 2  # the user's, then the administrator's


# Finding 3: the MongoDB mapping of user documents, fuzzed over document shapes (tests/contract has it on a server).

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=8),
    st.builds(ObjectId),
    st.datetimes(),
    st.datetimes(timezones=st.just(UTC)),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner))
FIELDS = st.sampled_from(["_id", "username", "password", "createdAt", "updatedAt", "__v", "other"])


@given(st.dictionaries(FIELDS, VALUES))
def test_finding3_any_document_shape_maps_to_a_user_or_to_none(doc: dict[str, Any]) -> None:
    user = _user(doc)
    if user is not None:
        assert isinstance(user.id, str) and isinstance(user.username, str) and isinstance(user.password_hash, str)
        assert isinstance(user.created_at, float) and isinstance(user.updated_at, float)
        assert user.username == doc["username"] and user.password_hash == doc["password"]


@given(
    st.builds(ObjectId),
    st.text(min_size=1, max_size=20),
    st.text(max_size=60),
    st.none() | st.datetimes(min_value=datetime(1971, 1, 1), timezones=st.just(UTC)),
)
def test_finding3_documents_of_the_tutorials_shape_always_map(
    object_id: ObjectId, username: str, password: str, created: datetime | None
) -> None:
    doc: dict[str, Any] = {"_id": object_id, "username": username, "password": password, "__v": 0}
    if created is not None:
        doc["createdAt"] = doc["updatedAt"] = created
    user = _user(doc)
    assert user is not None and user.id == str(object_id)
    assert user.created_at == (created or object_id.generation_time).timestamp()


async def test_finding9_forms_are_read_url_encoded_and_multipart(client: Client) -> None:
    response = await client.post("/users/signup", data=aiohttp.FormData({"username": "alice", "password": PASSWORD}))
    assert response.status == 201
    multipart = aiohttp.FormData({"username": "bob", "password": PASSWORD}, default_to_multipart=True)
    assert (await client.post("/users/signup", data=multipart)).status == 201
    login = await client.post("/users/login", data={"username": "alice", "password": PASSWORD})
    assert login.status == 200 and (await login.json())["User"]["userName"] == "alice"


async def test_finding9_lone_surrogates_are_refused_per_field(client: Client) -> None:
    body = '{"username": "alice", "password": "\\ud800 correct horse"}'
    response = await client.post("/users/signup", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["errors"] == [{"pointer": "#/password", "detail": "must be valid Unicode text"}]


async def test_finding9_login_ends_the_browsers_previous_session(client: Client) -> None:
    first = await signup_and_login(client)
    again = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})  # the jar sends first
    second = cookie_value(again.headers["Set-Cookie"])
    client.session.cookie_jar.clear()
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={first}"})).status == 401
    assert (await client.get("/users/protected", headers={"Cookie": f"sid={second}"})).status == 200


async def test_finding9_route_marks_take_effect_on_any_handler(
    container: Container, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def handler() -> Handler:
        async def answer(request: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        return answer

    app = create_app(container)
    app.router.add_get("/t/guarded", login_required(handler()))
    app.router.add_post("/t/exempt", csrf_exempt(handler()))
    app.router.add_get("/t/checked", csrf_checked(handler()))
    app.router.add_post("/t/gateway", gateway_check(handler()))
    app.router.add_post("/t/plain", handler())
    client = await aiohttp_client(app)
    evil = {"Origin": "https://evil.example"}
    assert (await client.get("/t/guarded")).status == 401
    assert (await client.post("/t/exempt", headers=evil)).status == 200
    with caplog.at_level(logging.INFO, logger="authsvc.access"):
        assert (await client.post("/t/gateway", headers=evil)).status == 200
    assert not [r for r in caplog.records if r.name == "authsvc.access"]  # the gateway logs its checks itself
    assert (await client.get("/t/checked", headers=evil)).status == 403
    assert (await client.post("/t/plain", headers=evil)).status == 403


async def test_finding9_aiohttp_session_loads_the_session_our_cookie_names(
    client: Client, container: Container, aiohttp_client: Any
) -> None:
    victim, attacker = await two_users_logged_in(client)

    async def show(request: web.Request) -> web.Response:
        session = await get_session(request)
        return web.json_response({"new": session.new, **dict(session)})

    app = web.Application(middlewares=[session_middleware(container.session_cookies())])
    app.router.add_get("/", show)
    bare = await aiohttp_client(app)
    ids = container.session_cookies().session_ids(victim)
    assert ids is not None
    loaded = await (await bare.get("/", headers={"Cookie": f"sid={victim}"})).json()
    assert loaded == {"new": False, "sid": ids.session_id, "uid": ids.user_id}
    assert await (await bare.get("/", headers={"Cookie": f"sid={victim}; sid={attacker}"})).json() == {"new": True}


@pytest.mark.parametrize("plaintext", [b"[1]", b'"text"', b'{"session": [1]}', b"not json", b'{"session": {"sid": 1}}'])
def test_finding9_our_own_key_on_an_unexpected_payload_yields_no_session(
    container: Container, plaintext: bytes
) -> None:
    forged = Fernet(TEST_KEY.encode()).encrypt(plaintext).decode()
    assert container.session_cookies().session_ids(forged) is None


async def test_finding9_account_deletion_clears_the_cookie(client: Client) -> None:
    await signup_and_login(client)
    deleted = await client.delete("/users/me", json={"password": PASSWORD})
    assert deleted.status == 200 and "Max-Age=0" in deleted.headers["Set-Cookie"]


async def test_finding9_introspection_does_not_renew_the_idle_timer(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    token = "t" * 40
    container = make_container(introspection={"enabled": True, "tokens": [{"name": "billing", "token": token}]})
    client = await aiohttp_client(create_app(container))
    cookie = await signup_and_login(client)
    client.session.cookie_jar.clear()
    auth = {"Authorization": f"Bearer {token}"}

    async def active() -> bool:
        answer = await client.post("/internal/sessions/introspect", json={"session": cookie}, headers=auth)
        return bool((await answer.json())["active"])

    clock.advance(1000)
    assert await active()
    clock.advance(900)  # 1900 s after the last real use: past the idle timeout unless introspection renewed it
    assert not await active()


async def test_finding9_session_handles_are_16_hex_characters_of_the_hash(client: Client) -> None:
    await signup_and_login(client)
    (listed,) = (await (await client.get("/users/me/sessions")).json())["sessions"]
    whoami = await (await client.get("/auth/session")).json()
    assert len(listed["id"]) == 16 and int(listed["id"], 16) >= 0 and whoami["session"]["id"] == listed["id"]


def test_finding9_session_keys_come_from_the_key_file_or_the_list(tmp_path: Any) -> None:
    first, second = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    key_file = tmp_path / "keys"
    key_file.write_text(f"\n{first}\n  {second}  \n\n")
    assert load_session_keys([TEST_KEY], str(key_file), "production") == [first.encode(), second.encode()]
    assert load_session_keys([first], None, "production") == [first.encode()]
    with pytest.raises(ConfigError, match="cannot be read"):
        load_session_keys([], str(tmp_path / "missing"), "development")
    with pytest.raises(ConfigError, match="key 2 is not a Fernet key"):
        load_session_keys([first, "not a key"], None, "development")


@pytest.mark.parametrize("env", ["staging", "production"])
def test_finding9_session_key_is_required_outside_development(env: str) -> None:
    with pytest.raises(ConfigError, match="required outside development"):
        load_session_keys([], None, env)


def test_finding9_development_makes_a_throw_away_session_key(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        (key,) = load_session_keys([], None, "development")
    Fernet(key)
    assert "throw-away key" in caplog.text and key.decode() not in caplog.text


async def test_finding9_audit_says_only_what_happened(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    await signup_and_login(client)
    caplog.clear()  # the audit trail keeps authsvc.audit at INFO: the sign-up and login were recorded
    with caplog.at_level(logging.INFO, logger="authsvc.audit"):
        assert (await client.delete("/users/me/sessions/0123456789abcdef")).status == 404
        client.session.cookie_jar.clear()
        assert (await client.post("/users/logout")).status == 200  # no session: nothing ended
    assert [r.__dict__.get("event") for r in caplog.records if r.name == "authsvc.audit"] == []


async def test_finding9_aiohttp_errors_become_problem_json(container: Container, aiohttp_client: Any) -> None:
    async def teapot(request: web.Request) -> web.Response:
        raise web.HTTPBadRequest(text="a reason of our own")

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/healthz")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = create_app(container)
    app.router.add_get("/t/teapot", teapot)
    app.router.add_get("/t/moved", moved)
    app.router.add_get("/t/broken", broken)
    client = await aiohttp_client(app)
    missing = await client.get("/nowhere")
    assert missing.content_type == "application/problem+json"
    assert await missing.json() == {"type": "about:blank", "title": "Not Found", "status": 404, "instance": "/nowhere"}
    wrong = await client.put("/users/signup")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert (await wrong.json())["title"] == "Method Not Allowed"
    assert (await (await client.get("/t/teapot")).json())["detail"] == "a reason of our own"
    redirect = await client.get("/t/moved", allow_redirects=False)
    assert redirect.status == 302 and redirect.headers["Location"] == "/healthz"
    crashed = await client.get("/t/broken")
    assert crashed.status == 500 and (await crashed.json())["title"] == "Internal Server Error"
    assert "a bug" not in await crashed.text()


async def test_finding9_unhandled_errors_are_logged(
    container: Container, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a bug")

    app = create_app(container)
    app.router.add_get("/t/broken", broken)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="authsvc"):
        await client.get("/t/broken")
    assert any(r.getMessage() == "unhandled error" and r.exc_info for r in caplog.records)


async def test_finding9_sessions_list_stays_bounded_after_a_race(container: Container, clock: ManualClock) -> None:
    registry, repository = container.session_registry(), container.sessions_repository()
    records = []
    for n in range(60):  # as if concurrent logins on several replicas had all passed the check
        record = (await registry.create("u" * 24))[1]
        records.append(dataclasses.replace(record, id_hash=f"{n:064x}", last_seen_at=clock.now() + n))
    for record in records:
        await repository.create(record)
    listed = await registry.list("u" * 24)
    assert len(listed) == 50
    assert {r.id_hash for r in listed} == {r.id_hash for r in records[10:]}  # the 50 most recently used
    assert [r.created_at for r in listed] == sorted(r.created_at for r in listed)


async def test_finding9_metrics_count_throttled_logins_and_revocations(make_container: Any) -> None:
    container = make_container(throttle={"account_max_failures": 1})
    await container.users_service().signup("alice", PASSWORD)
    auth = container.auth_service()
    await sign_in(container, "alice", PASSWORD, CLIENT)
    await sign_in(container, "alice", PASSWORD, CLIENT)
    assert await auth.end_sessions_of("alice") == 2
    with pytest.raises(Unauthorized):
        await sign_in(container, "alice", "wrong password", CLIENT)
    with pytest.raises(TooManyRequests):
        await sign_in(container, "alice", PASSWORD, CLIENT)
    text = container.metrics().render().decode()
    assert 'authsvc_logins_total{outcome="throttled"} 1.0' in text
    assert "authsvc_sessions_revoked_total 2.0" in text


async def test_finding9_a_user_deleted_elsewhere_is_logged_out(container: Container) -> None:
    await container.users_service().signup("alice", PASSWORD)
    auth = container.auth_service()
    user, session_id = await sign_in(container, "alice", PASSWORD, CLIENT)
    await container.users_repository().delete(user.id)  # by another replica, or an administrator's script
    assert await auth.authenticate(session_id, user.id) is None
    assert await container.sessions_repository().list_for_user(user.id, container.clock().now()) == []


async def test_finding9_safe_methods_are_not_origin_checked(client: Client) -> None:
    await signup_and_login(client)
    evil = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
    for path in ("/users/protected", "/healthz", "/auth/session"):
        assert (await client.get(path, headers=evil)).status == 200, path


def test_finding9_zone_ids_are_dropped_and_missing_addresses_stay_missing() -> None:
    assert without_zone("fe80::1%eth0") == "fe80::1"
    assert without_zone("192.0.2.1") == "192.0.2.1"
    assert without_zone(None) is None and without_zone("") == ""


async def test_finding9_forwarded_headers_of_a_closed_connection_are_not_read() -> None:
    seen: list[web.Request] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        return web.Response()

    request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": "203.0.113.9"})
    request.protocol.transport = None  # the client went away before the middleware ran
    await forwarded_middleware(["127.0.0.1/32"])(request, handler)
    assert seen == [request]


@pytest.mark.parametrize("verify_logged", [False, True])
async def test_finding9_the_gateway_check_stays_out_of_the_access_log_unless_asked(
    make_container: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture, verify_logged: bool
) -> None:
    client = await aiohttp_client(create_app(make_container(server={"access_log_verify": verify_logged})))
    with caplog.at_level(logging.INFO, logger="authsvc.access"):
        await client.get("/auth/verify")
        await client.get("/healthz")
    paths = [r.__dict__["path"] for r in caplog.records if r.name == "authsvc.access"]
    assert paths == (["/auth/verify", "/healthz"] if verify_logged else ["/healthz"])


async def test_finding9_sessions_list_shows_the_address_and_user_agent(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    browser = {"User-Agent": "Mozilla/5.0 (test)"}
    await client.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=browser)
    (listed,) = (await (await client.get("/users/me/sessions")).json())["sessions"]
    assert (listed["ip"], listed["userAgent"], listed["current"]) == ("127.0.0.1", "Mozilla/5.0 (test)", True)


def test_finding6_the_quoted_form_of_a_cookie_value_is_the_same_value(container: Container) -> None:
    cookies = container.session_cookies()
    value = Fernet(TEST_KEY.encode()).encrypt(b'{"session": {"sid": "s", "uid": "u"}}').decode()
    assert cookies.session_ids(f'"{value}"') == cookies.session_ids(value) == ("s", "u")
    assert cookies.session_ids('""') is None and cookies.session_ids('"') is None
