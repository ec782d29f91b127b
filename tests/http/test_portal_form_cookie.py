"""The portal's form-token cookie over HTTP: a form shown now stays valid for an hour, readable by no script."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]


async def test_showing_a_form_sets_its_token_cookie_for_one_hour(client: Client) -> None:
    page = await client.get("/login")

    cookie = next(value for value in page.headers.getall("Set-Cookie") if "-csrf=" in value)

    assert page.status == 200
    assert "Max-Age=3600" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
