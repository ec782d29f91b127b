"""Step-up (issue 25): a one-factor session reaching a two_factor rule is sent to the portal's step-up page, which
asks for the second factor only, rotates the session id and sends the browser back to rd."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from authsvc.web.app import create_app
from tests.driver import HTML, code_at, enrol, form_token, post_login, signup
from tests.helpers import ManualClock

Client = TestClient[Any, Any]
RULES = {
    "default_policy": "deny",
    "networks": [],
    "rules": [
        {"domain": "app.test", "policy": "one_factor"},
        {"domain": "admin.test", "policy": "two_factor"},
    ],
}
SECTIONS = {
    "server": {"trusted_proxies": ["127.0.0.1/32"]},
    "mfa": {"second_factor_at_login": False},
    "portal": {"allowed_redirect_domains": ["admin.test", "app.test"]},
    "access_control": RULES,
}
ADMIN = "http://admin.test/reports?week=1"


@pytest.fixture
async def portal(make_container: Any, aiohttp_client: Any) -> Client:
    client: Client = await aiohttp_client(create_app(make_container(**SECTIONS)))
    return client


async def check(client: Client, url: str, cookie: str | None = None, **headers: str) -> aiohttp.ClientResponse:
    sent = {"X-Original-URL": url, **headers, **({"Cookie": f"sid={cookie}"} if cookie else {})}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        response = await bare.get(client.make_url("/auth/forward-auth"), headers=sent, allow_redirects=False)
        await response.read()
        return response


def sid(client: Client) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == "sid")


async def test_a_password_session_reaches_one_factor_and_steps_up_for_two(portal: Client, clock: ManualClock) -> None:
    secret, _ = await enrol(portal, clock)
    portal.session.cookie_jar.clear()
    signed_in = await post_login(portal, rd="http://app.test/")
    assert (signed_in.status, signed_in.headers["Location"]) == (303, "http://app.test/")  # no code asked
    one_factor = sid(portal)
    assert (await check(portal, "http://app.test/", one_factor)).status == 200

    sent = await check(portal, ADMIN, one_factor, **HTML)
    assert sent.status == 302 and sent.headers["Location"].endswith(
        "/login/step-up?rd=http%3A%2F%2Fadmin.test%2Freports%3Fweek%3D1"
    )
    assert (await check(portal, ADMIN, one_factor)).status == 401

    page = await portal.get(str(URL(sent.headers["Location"]).relative()))
    html = await page.text()
    assert page.status == 200 and 'action="/login/step-up"' in html and 'name="username"' not in html
    stepped = await portal.post(
        "/login/step-up",
        data={"code": code_at(secret, clock), "csrf": form_token(html), "rd": ADMIN},
        allow_redirects=False,
    )
    assert (stepped.status, stepped.headers["Location"]) == (303, ADMIN)
    two_factor = sid(portal)
    assert two_factor != one_factor  # a new session id for the stronger session
    assert (await check(portal, ADMIN, two_factor)).status == 200
    assert (await check(portal, ADMIN, one_factor)).status == 401  # the old id ended
    session = await (await portal.get("/auth/session")).json()
    assert session["session"]["factors"] == ["password", "totp"]


async def test_a_wrong_code_keeps_the_session_one_factor(portal: Client, clock: ManualClock) -> None:
    await enrol(portal, clock)
    portal.session.cookie_jar.clear()
    await post_login(portal)
    before = sid(portal)
    page = await portal.get("/login/step-up?rd=" + ADMIN)
    refused = await portal.post(
        "/login/step-up", data={"code": "000000", "csrf": form_token(await page.text()), "rd": ADMIN}
    )
    assert refused.status == 401 and "not valid" in await refused.text()
    assert sid(portal) == before and (await check(portal, ADMIN, before)).status == 401


async def test_a_user_without_a_second_factor_is_offered_enrolment(portal: Client) -> None:
    await signup(portal)
    await post_login(portal)
    page = await portal.get("/login/step-up?rd=" + ADMIN)
    html = await page.text()
    assert page.status == 200 and 'href="/account"' in html and 'name="code"' not in html


async def test_the_sign_in_page_sends_a_signed_in_one_factor_browser_on_to_step_up(
    portal: Client, clock: ManualClock
) -> None:
    await enrol(portal, clock)
    portal.session.cookie_jar.clear()
    await post_login(portal)
    to_step_up = await portal.get("/login?rd=" + ADMIN, allow_redirects=False)
    assert to_step_up.status == 303 and to_step_up.headers["Location"].startswith("/login/step-up?rd=http%3A")
    stays = await portal.get("/login?rd=http://app.test/", allow_redirects=False)
    assert stays.status == 200


async def test_step_up_without_a_session_goes_to_sign_in(portal: Client) -> None:
    response = await portal.get("/login/step-up?rd=" + ADMIN, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/login?rd=http%3A%2F%2Fadmin.test")


async def test_a_step_up_form_that_expired_is_shown_again_and_the_session_stays_one_factor(
    portal: Client, clock: ManualClock
) -> None:
    secret, _ = await enrol(portal, clock)
    portal.session.cookie_jar.clear()
    await post_login(portal)
    before = sid(portal)
    await portal.get("/login/step-up?rd=" + ADMIN)
    stale = await portal.post("/login/step-up", data={"code": code_at(secret, clock), "csrf": "stale", "rd": ADMIN})
    html = await stale.text()
    assert stale.status == 403 and "The form expired" in html and 'action="/login/step-up"' in html
    assert sid(portal) == before and (await check(portal, ADMIN, before)).status == 401  # the code was not spent
    fresh = await portal.post(
        "/login/step-up",
        data={"code": code_at(secret, clock), "csrf": form_token(html), "rd": ADMIN},
        allow_redirects=False,
    )
    assert (fresh.status, fresh.headers["Location"]) == (303, ADMIN)


async def test_a_signed_out_browser_posting_a_stale_step_up_form_goes_to_sign_in(portal: Client) -> None:
    response = await portal.post("/login/step-up", data={"code": "123456", "csrf": "stale"}, allow_redirects=False)
    assert (response.status, response.headers["Location"]) == (303, "/login")
