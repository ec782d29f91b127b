"""The portal's second step: POST /login of an enrolled user shows the code form; POST /login/mfa signs in."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from tests.driver import code_at, enrol, form_token, post_login, protected_with
from tests.helpers import ManualClock

Client = TestClient[Any, Any]


async def code_form(client: Client, clock: ManualClock, rd: str = "/app") -> tuple[str, str]:
    """An enrolled alice, signed out, who posted the right password: the code page and the secret."""
    secret, _ = await enrol(client, clock)
    client.session.cookie_jar.clear()
    page = await post_login(client, rd=rd)
    assert page.status == 200 and page.content_type == "text/html"
    return await page.text(), secret


async def test_password_of_enrolled_user_shows_the_code_form_and_no_session(client: Client, clock: ManualClock) -> None:
    html, _ = await code_form(client, clock)
    assert '<form method="post" action="/login/mfa">' in html
    assert 'autocomplete="one-time-code"' in html and '<input type="hidden" name="rd" value="/app">' in html
    assert "<script" not in html
    assert (await client.get("/auth/verify")).status == 401
    assert (await client.get("/users/protected")).status == 401


async def test_code_form_signs_in_and_returns_to_rd(client: Client, clock: ManualClock) -> None:
    html, secret = await code_form(client, clock)
    body = {"code": code_at(secret, clock), "csrf": form_token(html), "rd": "/app"}
    response = await client.post("/login/mfa", data=body, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/app"
    session = response.cookies["sid"].value
    assert await protected_with(client, session) == 200
    assert (await client.get("/auth/verify")).status == 200


async def test_wrong_code_shows_the_code_form_again_with_401(client: Client, clock: ManualClock) -> None:
    html, secret = await code_form(client, clock)
    wrong = await client.post("/login/mfa", data={"code": "000000", "csrf": form_token(html)}, allow_redirects=False)
    assert wrong.status == 401
    again = await wrong.text()
    assert "That code is not valid." in again and 'action="/login/mfa"' in again
    right = await client.post("/login/mfa", data={"code": code_at(secret, clock), "csrf": form_token(again)})
    assert right.status == 200  # followed the 303 to the default redirect, /login: "signed in"
    assert (await client.get("/users/protected")).status == 200


async def test_code_without_pending_login_goes_back_to_the_sign_in_form(client: Client, clock: ManualClock) -> None:
    html, secret = await code_form(client, clock)
    clock.advance(301)
    expired = await client.post("/login/mfa", data={"code": code_at(secret, clock), "csrf": form_token(html)})
    assert expired.status == 401
    page = await expired.text()
    assert "Your sign-in expired." in page and 'action="/login"' in page


async def test_code_form_without_its_form_token_is_403(client: Client, clock: ManualClock) -> None:
    _, secret = await code_form(client, clock)
    refused = await client.post("/login/mfa", data={"code": code_at(secret, clock), "csrf": "forged"})
    assert refused.status == 403 and refused.content_type == "text/html"
    assert (await client.get("/users/protected")).status == 401
