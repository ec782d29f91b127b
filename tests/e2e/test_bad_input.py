"""Every bad input gets a clear 4xx problem+json answer from the real process: never a 500, HTML or a trace."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from tests.driver import PASSWORD


async def problem(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    body = await response.json()
    assert body["status"] == status and body["title"]
    assert "Traceback" not in json.dumps(body)
    return dict(body)


@pytest.mark.parametrize(
    "username",
    [{"$ne": None}, {"$gt": ""}, 42, ["alice"], True, None],
    ids=["operator-ne", "operator-gt", "number", "array", "bool", "null"],
)
@pytest.mark.parametrize("route", ["/users/signup", "/users/login"])
async def test_non_string_username_is_400(http: aiohttp.ClientSession, route: str, username: object) -> None:
    body = await problem(await http.post(route, json={"username": username, "password": PASSWORD}), 400)
    assert {"pointer": "#/username", "detail": "must be a string"} in body["errors"]


@pytest.mark.parametrize("route", ["/users/signup", "/users/login"])
@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b"[]", b'"alice"', b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'{"username":"a","username":"b"}'],
)
async def test_malformed_json_is_400(http: aiohttp.ClientSession, route: str, raw: bytes) -> None:
    await problem(await http.post(route, data=raw, headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
async def test_unsupported_content_type_is_415(http: aiohttp.ClientSession, content_type: str) -> None:
    response = await http.post("/users/signup", data=b"username=a", headers={"Content-Type": content_type})
    await problem(response, 415)


async def test_body_over_limit_is_413(http: aiohttp.ClientSession) -> None:
    big = {"username": "alice", "password": "x" * 70_000}
    await problem(await http.post("/users/signup", json=big), 413)


@pytest.mark.parametrize(
    ("body", "pointer", "detail"),
    [
        ({"password": PASSWORD}, "#/username", "is required"),
        ({"username": "alice"}, "#/password", "is required"),
        ({"username": "alice", "password": PASSWORD, "role": "admin"}, "#/role", "is not allowed"),
        ({"username": "alice", "password": 12345678}, "#/password", "must be a string"),
    ],
)
async def test_missing_extra_and_wrong_typed_fields_are_400(
    http: aiohttp.ClientSession, body: dict[str, object], pointer: str, detail: str
) -> None:
    result = await problem(await http.post("/users/signup", json=body), 400)
    assert {"pointer": pointer, "detail": detail} in result["errors"]


async def test_lone_surrogate_is_400(http: aiohttp.ClientSession) -> None:
    raw = b'{"username": "alice", "password": "abc\\ud800defgh"}'
    await problem(await http.post("/users/signup", data=raw, headers={"Content-Type": "application/json"}), 400)


async def test_repeated_form_field_is_400(http: aiohttp.ClientSession) -> None:
    raw = b"username=alice&username=bob&password=correct+horse+battery"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    await problem(await http.post("/users/login", data=raw, headers=form), 400)


@pytest.mark.parametrize(
    ("username", "password", "pointer"),
    [
        ("ab", PASSWORD, "#/username"),
        ("white space", PASSWORD, "#/username"),
        ("x" * 65, PASSWORD, "#/username"),
        ("policyuser", "short", "#/password"),
        ("policyuser", "password123", "#/password"),
        ("policyuser", "policyuser", "#/password"),
    ],
)
async def test_policy_failures_are_422_per_field(
    http: aiohttp.ClientSession, username: str, password: str, pointer: str
) -> None:
    body = await problem(await http.post("/users/signup", json={"username": username, "password": password}), 422)
    assert [e["pointer"] for e in body["errors"]] == [pointer]


async def test_unknown_route_is_404(http: aiohttp.ClientSession) -> None:
    await problem(await http.get("/users/nowhere"), 404)


async def test_wrong_method_is_405_with_allow(http: aiohttp.ClientSession) -> None:
    response = await http.delete("/users/signup")
    await problem(response, 405)
    assert "POST" in response.headers["Allow"]


async def test_128_character_password_of_any_script_is_accepted(http: aiohttp.ClientSession) -> None:
    password = "密码-пароль-🔑-" * 11
    assert len(password) >= 128
    response = await http.post("/users/signup", json={"username": "anyscript", "password": password})
    assert response.status == 201
    assert (await http.post("/users/login", json={"username": "anyscript", "password": password})).status == 200
    truncated = password[:72]
    assert (await http.post("/users/login", json={"username": "anyscript", "password": truncated})).status == 401
