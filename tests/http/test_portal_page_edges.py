"""Portal edges the mutation run found unpinned: where the passkey button goes next, closed sign-up refusing the
form too, and every second-factor page sending a browser without a session to the sign-in instead of failing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.users.service import SIGNUP_CLOSED
from authsvc.web.app import create_app
from tests.driver import PASSWORD, enrolled, form_token, login, open_form
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


@pytest.fixture
async def web(make_container: Any, aiohttp_client: Any) -> Client:
    client: Client = await aiohttp_client(create_app(make_container()))
    return client


def passkey_next(html: str) -> str:
    found = re.search(r'data-passkey="[a-z-]+" data-next="([^"]*)"', html)
    assert found, "no passkey button"
    return found.group(1)


async def test_the_passkey_buttons_go_where_the_sign_in_would(web: Client) -> None:
    assert passkey_next(await (await web.get("/login")).text()) == "/account"
    assert passkey_next(await (await web.get("/login?rd=/app")).text()) == "/app"
    await enrolled(web, SoftAuthenticator())
    for rd, goes in ((None, "/account"), ("/app", "/app")):
        web.session.cookie_jar.clear()
        fields = {"username": "alice", "password": PASSWORD, "csrf": await open_form(web)}
        second = await web.post("/login", data={**fields, **({"rd": rd} if rd else {})})
        assert second.status == 200 and 'data-passkey="second-factor"' in (html := await second.text()), html
        assert passkey_next(html) == goes


async def test_closed_sign_up_refuses_the_form_as_well_as_the_page(make_container: Any, aiohttp_client: Any) -> None:
    closed: Client = await aiohttp_client(create_app(make_container(users={"self_signup": False})))
    refused = await closed.post("/signup", data={"username": "mallory", "password": PASSWORD, "csrf": "x"})
    assert refused.status == 403 and refused.content_type == "text/html"
    assert SIGNUP_CLOSED in await refused.text()  # said before the form is read: not "the form expired"
    assert (await login(closed, "mallory")).status == 401


async def test_the_step_up_page_sends_a_browser_without_a_session_to_the_sign_in(web: Client) -> None:
    bare = await web.get("/login/step-up", allow_redirects=False)
    assert bare.status == 303 and bare.headers["Location"] == "/login"
    back = await web.get("/login/step-up?rd=/app", allow_redirects=False)
    assert back.status == 303 and back.headers["Location"] == "/login?rd=%2Fapp"
    posted = await web.post("/login/step-up", data={"code": "123456", "csrf": "x"}, allow_redirects=False)
    assert posted.status == 303 and posted.headers["Location"] == "/login"


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("totp", {"password": PASSWORD}),
        ("totp/confirm", {"code": "123456", "enrolment": "x"}),
        ("totp/remove", {"password": PASSWORD}),
        ("passkeys/remove", {"id": "x", "password": PASSWORD}),
    ],
)
async def test_every_security_form_sends_a_browser_without_a_session_to_the_sign_in(
    web: Client, action: str, fields: dict[str, str]
) -> None:
    posted = await web.post(f"/security/{action}", data={**fields, "csrf": "x"}, allow_redirects=False)
    assert posted.status == 303 and posted.headers["Location"] == "/login?rd=/account"


async def test_confirming_when_no_app_waits_says_so(web: Client) -> None:
    assert (await web.post("/users/signup", json={"username": "alice", "password": PASSWORD})).status == 201
    assert (await login(web)).status == 200
    html = await (await web.get("/account")).text()
    nothing = await web.post(
        "/security/totp/confirm", data={"code": "123456", "enrolment": "x", "csrf": form_token(html)}
    )
    assert nothing.status == 409 and "No authenticator app is waiting" in await nothing.text()
