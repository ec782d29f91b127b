"""The audit trail over HTTP against the app in-process: what the services record for a user's whole story, read
back through GET /admin/events with filters and cursors. ASVS v5 16.2.1 (each event has when, where, who, what),
16.3.x (authentication, authorization and security-control events logged), 16.2.5 (no secrets in events)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import ADMIN, PASSWORD, enrol, login
from tests.driver import ADMIN_READER as READER
from tests.driver import ADMIN_ROOT as ROOT
from tests.helpers import ManualClock

Client = TestClient[Any, Any]
AGENT = {"User-Agent": "events-test/1.0"}


@pytest.fixture
async def client(aiohttp_client: Any, make_container: Any) -> Client:
    return await aiohttp_client(create_app(make_container(**ADMIN, events={"memory_max": 100})))


async def events(client: Client, **params: str) -> dict[str, Any]:
    answer = await client.get("/admin/events", params=params, headers=ROOT)
    assert answer.status == 200, await answer.text()
    body: dict[str, Any] = await answer.json()
    return body


async def every_event(client: Client, **params: str) -> list[dict[str, Any]]:
    """Every page, following the cursors (admin.max_page_size is 5 here)."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await events(client, **params, **({"cursor": cursor} if cursor else {}))
        found += page["events"]
        if (cursor := page["nextCursor"]) is None:
            return found


async def test_v16_3_a_users_story_is_in_the_trail_with_who_where_and_which_request(client: Client) -> None:
    signup = await client.post(
        "/users/signup", json={"username": "alice", "password": PASSWORD, "email": "alice@example.com"}, headers=AGENT
    )
    alice = (await signup.json())["userId"]
    wrong = await client.post("/users/login", json={"username": "alice", "password": "not it at all"}, headers=AGENT)
    assert wrong.status == 401
    ok = await client.post("/users/login", json={"username": "alice", "password": PASSWORD}, headers=AGENT)
    change = {"currentPassword": PASSWORD, "newPassword": "another fine staple"}
    assert (await client.post("/users/me/password", json=change, headers=AGENT)).status == 200
    assert (await client.post(f"/admin/users/{alice}/disable", headers=ROOT)).status == 200
    assert (await client.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 401

    trail = await every_event(client, user=alice)
    assert [(e["type"], e["actor"], e["outcome"]) for e in trail] == [
        ("signup", "user", "success"),
        ("email.set", "user", "success"),
        ("login.success", "user", "success"),
        ("password.change", "user", "success"),
        ("account.disabled", "admin:root", "success"),
        ("admin.call", "admin:root", "success"),  # the call that disabled her, after what it did
    ]
    login_event = trail[2]
    assert login_event["ip"] == "127.0.0.1" and login_event["userAgent"] == "events-test/1.0"
    assert login_event["requestId"] == ok.headers["X-Request-Id"]
    assert trail[4]["details"] == {"count": 1}  # the password change kept its own session; disabling ended it

    failures = await every_event(client, type="login.failure")
    assert len(failures) == 2 and {e["outcome"] for e in failures} == {"failure"}
    assert failures[0]["requestId"] == wrong.headers["X-Request-Id"] and failures[0]["userId"] is None
    assert len(failures[0]["details"]["account"]) == 32  # a keyed pseudonym, never the name
    everything = json.dumps(await every_event(client))
    for secret in (PASSWORD, "another fine staple", "not it at all", "alice@example.com", "$bcrypt", "sid="):
        assert secret not in everything


async def test_events_page_with_cursors_and_filter_by_time(client: Client, clock: ManualClock) -> None:
    for i in range(7):
        await client.post("/users/login", json={"username": f"nobody{i}", "password": "whatever it is"})
        clock.advance(60)
    pages, cursor = [], None
    while True:
        page = await events(client, type="login.failure", limit="3", **({"cursor": cursor} if cursor else {}))
        pages.append(len(page["events"]))
        if (cursor := page["nextCursor"]) is None:
            break
    assert pages == [3, 3, 1]
    first = (await events(client, type="login.failure"))["events"]  # a page of admin.max_page_size: 5
    window = await events(client, type="login.failure", since=first[1]["at"], until=first[4]["at"])
    assert [e["id"] for e in window["events"]] == [e["id"] for e in first[1:4]]


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"until": "2026-01-01T00:00:00"}, {"limit": "6"}, {"limit": "-1"}, {"user": "u" * 65}],
)
async def test_bad_event_queries_are_400_problems(client: Client, params: dict[str, str]) -> None:
    refused = await client.get("/admin/events", params=params, headers=ROOT)
    assert refused.status == 400 and refused.content_type == "application/problem+json"


async def test_the_trail_needs_the_events_read_scope(client: Client) -> None:
    assert (await client.get("/admin/events", headers=READER)).status == 403
    assert (await client.get("/admin/events")).status == 401


async def test_the_memory_trail_keeps_the_newest_memory_max_events(client: Client) -> None:
    for i in range(3):
        await client.post("/users/signup", json={"username": f"early{i}", "password": PASSWORD})
    for i in range(120):
        await client.post("/users/login", json={"username": f"guess{i}", "password": "whatever it is"})
    # Each page read is an admin.call event, appended as the reading goes; the logins are what the ring kept.
    kept = [e for e in await every_event(client) if e["type"] != "admin.call"]
    assert len(kept) == 100
    assert [e["id"] for e in kept] == sorted(e["id"] for e in kept)
    assert {e["type"] for e in kept} <= {"login.failure", "login.throttled"}  # the signups went first


async def test_second_factor_and_admin_events_name_their_actor(client: Client, clock: ManualClock) -> None:
    await enrol(client, clock)
    alice = (await (await client.get("/admin/users", params={"prefix": "alice"}, headers=ROOT)).json())["users"][0]
    assert (await client.delete(f"/admin/users/{alice['id']}/mfa", headers=ROOT)).status == 200
    assert (await login(client)).status == 200
    trail = [(e["type"], e["actor"]) for e in await every_event(client, user=alice["id"])]
    assert ("mfa.totp.enrol", "user") in trail and ("mfa.reset", "admin:root") in trail
    assert trail[-1] == ("login.success", "user")


async def test_v16_3_every_admin_call_is_an_event_reads_and_refusals_too(client: Client) -> None:
    signup = await client.post("/users/signup", json={"username": "alice", "password": PASSWORD})
    alice = (await signup.json())["userId"]
    wrong = {"Authorization": "Bearer " + "w" * 43, **AGENT}
    assert (await client.get("/admin/users", params={"prefix": "al"}, headers=wrong)).status == 401
    assert (await client.get("/admin/users")).status == 401
    assert (await client.post(f"/admin/users/{alice}/disable", headers=READER)).status == 403
    assert (await client.get(f"/admin/users/{alice}", headers=READER)).status == 200
    assert (await client.post(f"/admin/users/{alice}/disable", headers=ROOT)).status == 200
    assert (await client.get(f"/admin/users/{'0' * 24}", headers=ROOT)).status == 404

    calls = await every_event(client, type="admin.call")  # pages of 5: the first page's read is on the second
    assert [
        (e["actor"], e["userId"], e["outcome"], e["details"]["method"], e["details"]["route"], e["details"]["status"])
        for e in calls
    ] == [
        ("anonymous", None, "failure", "GET", "/admin/users", 401),
        ("anonymous", None, "failure", "GET", "/admin/users", 401),
        ("admin:reader", alice, "failure", "POST", "/admin/users/{id}/disable", 403),
        ("admin:reader", alice, "success", "GET", "/admin/users/{id}", 200),
        ("admin:root", alice, "success", "POST", "/admin/users/{id}/disable", 200),
        ("admin:root", "0" * 24, "failure", "GET", "/admin/users/{id}", 404),
        ("admin:root", None, "success", "GET", "/admin/events", 200),
    ]
    assert calls[0]["userAgent"] == "events-test/1.0" and calls[0]["ip"] == "127.0.0.1"
    everything = json.dumps(await every_event(client))
    for secret in ("w" * 43, ROOT["Authorization"].split()[1], READER["Authorization"].split()[1], "prefix"):
        assert secret not in everything  # neither a token, presented or configured, nor the query
