"""Forward-auth, whoami, introspection and the operations routes, over HTTP against the app on 127.0.0.1."""

from __future__ import annotations

import os
import re
import secrets
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from authsvc.web.edge.middlewares import new_request_id
from tests.driver import PASSWORD, signup_and_login

Client = TestClient[Any, Any]
TOKEN = secrets.token_urlsafe(32)


@pytest.fixture
async def gateway(make_container: Any, aiohttp_client: Any) -> Client:
    container = make_container(
        introspection={"enabled": True, "tokens": [{"name": "billing", "token": TOKEN}]},
        server={"trusted_proxies": ["127.0.0.1/32"]},
        gateway={"user_id_header": "X-User", "user_name_header": "X-User-Name"},
    )
    client: Client = await aiohttp_client(create_app(container))
    return client


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize("path", ["/auth/verify", "/auth/verify/original/path"])
async def test_verify_answers_who_for_a_live_session(gateway: Client, method: str, path: str) -> None:
    await signup_and_login(gateway)
    response = await gateway.request(method, path)
    assert response.status == 200
    assert response.headers["X-User-Name"] == "alice"
    assert re.fullmatch(r"[0-9a-f]{24}", response.headers["X-User"])


async def test_verify_without_session_is_401(gateway: Client) -> None:
    assert (await gateway.get("/auth/verify")).status == 401


async def test_verify_after_logout_is_401(gateway: Client) -> None:
    cookie = await signup_and_login(gateway)
    await gateway.post("/users/logout")
    assert (await gateway.get("/auth/verify", headers={"Cookie": f"sid={cookie}"})).status == 401


async def test_whoami_shows_user_and_session_times(gateway: Client) -> None:
    await signup_and_login(gateway)
    body = await (await gateway.get("/auth/session")).json()
    assert body["user"]["userName"] == "alice"
    assert body["session"].keys() == {
        "id", "createdAt", "lastSeenAt", "idleExpiresAt", "absoluteExpiresAt", "factors", "provenAt"
    }  # fmt: skip
    assert (body["user"]["groups"], body["session"]["factors"]) == ([], ["password"])
    gateway.session.cookie_jar.clear()
    assert (await gateway.get("/auth/session")).status == 401
    assert (await gateway.get("/auth/session", headers={"Cookie": "sid=forged"})).status == 401


async def test_introspect_with_service_token(gateway: Client) -> None:
    cookie = await signup_and_login(gateway)
    gateway.session.cookie_jar.clear()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    live = await (await gateway.post("/internal/sessions/introspect", json={"session": cookie}, headers=auth)).json()
    assert live["active"] is True and live["user"]["userName"] == "alice" and live["exp"] > live["iat"]
    dead = await gateway.post("/internal/sessions/introspect", json={"session": cookie[:-4] + "AAAA"}, headers=auth)
    assert await dead.json() == {"active": False}


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
async def test_introspect_refuses_without_valid_service_token(gateway: Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = await gateway.post("/internal/sessions/introspect", json={"session": "x"}, headers=headers)
    assert response.status == 401


async def test_introspect_disabled_is_404(make_container: Any, aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(make_container(introspection={"enabled": False})))
    response = await client.post("/internal/sessions/introspect", json={"session": "x"})
    assert response.status == 404


async def test_forwarded_for_is_believed_from_trusted_proxy(gateway: Client) -> None:
    await gateway.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    login = await gateway.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=forwarded)
    assert login.headers["Strict-Transport-Security"].startswith("max-age=")
    sessions = await (await gateway.get("/users/me/sessions")).json()
    assert sessions["sessions"][0]["ip"] == "203.0.113.9"


async def test_forwarded_for_is_ignored_from_untrusted_peer(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    await client.post(
        "/users/login", json={"username": "alice", "password": PASSWORD}, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    sessions = await (await client.get("/users/me/sessions")).json()
    assert sessions["sessions"][0]["ip"] == "127.0.0.1"


async def test_spoofed_forwarded_for_cannot_dodge_ip_throttle(client: Client) -> None:
    await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    for n in range(10):
        spoof = {"X-Forwarded-For": f"198.51.100.{n}"}
        await client.post("/users/login", json={"username": "alice", "password": "wrong!!!"}, headers=spoof)
    response = await client.post("/users/login", json={"username": "alice", "password": PASSWORD})
    assert response.status == 429


async def test_request_id_is_taken_or_made_and_echoed(client: Client) -> None:
    given = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["X-Request-Id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-Id": "bad id\twith junk"})
    assert re.fullmatch(r"[0-9a-f]{16}", made.headers["X-Request-Id"])


async def test_made_up_request_ids_differ(client: Client) -> None:
    made = [(await client.get("/healthz")).headers["X-Request-Id"] for _ in range(3)]
    assert len(set(made)) == 3 and all(re.fullmatch(r"[0-9a-f]{16}", value) for value in made)


def test_a_forked_worker_makes_up_request_ids_of_its_own() -> None:
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # a worker forked from this process: its ids must not repeat the parent's
        os.write(writing, new_request_id().encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        forked = pipe.read()
    os.waitpid(child, 0)
    mine = new_request_id()
    assert re.fullmatch(r"[0-9a-f]{16}", forked) and forked[:8] != mine[:8]


async def test_metrics_count_requests_logins_and_sessions(client: Client) -> None:
    await signup_and_login(client)
    await client.post("/users/login", json={"username": "alice", "password": "wrong!!!"})
    await client.post("/users/logout")
    text = await (await client.get("/metrics")).text()
    assert 'authsvc_logins_total{outcome="success"} 1.0' in text
    assert 'authsvc_logins_total{outcome="failure"} 1.0' in text
    assert "authsvc_sessions_created_total 1.0" in text  # the failed login opened none
    assert "authsvc_sessions_revoked_total 1.0" in text
    assert 'authsvc_http_request_duration_seconds_count{method="POST",route="/users/login",status="200"}' in text


async def test_readyz_on_memory_backend(client: Client) -> None:
    assert (await client.get("/readyz")).status == 200


async def test_forwarded_host_is_not_believed_for_the_csrf_check(gateway: Client) -> None:
    await gateway.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    forged = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "evil.example", "Origin": "http://evil.example"}
    response = await gateway.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=forged)
    assert response.status == 403
