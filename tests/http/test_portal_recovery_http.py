"""Recovery reachable from the portal, over HTTP against the app: the sign-in page links to /forgot, sign-up takes an
address and mails its link, a dead link's page offers a new one, success and error messages look apart, waits are
said as people say them, and / sends a browser to the portal."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from authsvc.web.edge.i18n import wait as _wait
from tests.driver import HTML, PASSWORD, form_token, open_form
from tests.smtp import SmtpServer, smtp_sections, token_in

Client = TestClient[Any, Any]
NEW_PASSWORD = "a brand new staple"


def test_waits_are_plural_correct() -> None:
    assert [_wait(s) for s in (1, 2, 59, 119, 120, 121, 3600)] == [
        "1 second",
        "2 seconds",
        "59 seconds",
        "119 seconds",
        "2 minutes",
        "3 minutes",
        "60 minutes",
    ]


async def test_sign_in_page_links_to_forgot_password(make_container: Any, aiohttp_client: Any) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    html = await (await web.get("/login")).text()
    assert '<a href="/forgot">Forgot password?</a>' in html
    forgot = await web.get("/forgot")
    assert forgot.status == 200 and 'name="account"' in await forgot.text()


async def test_signup_with_an_address_mails_its_link_and_verifying_marks_it(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    signup_page = await (await web.get("/signup")).text()
    assert re.search(r'<input id="email" name="email" type="email"(?![^>]* required)[^>]*>', signup_page)
    body = {"username": "carol", "password": PASSWORD, "email": "carol@example.com", "csrf": form_token(signup_page)}
    signed_up = await web.post("/signup", data=body, allow_redirects=False)
    assert signed_up.status == 303
    token = token_in(await smtp_server.wait_for("carol@example.com", "Confirm your email address"), "verify-email")
    page = await web.get(f"/verify-email?token={token}")
    verified = await web.post("/verify-email", data={"token": token, "csrf": form_token(await page.text())})
    html = await verified.text()
    assert verified.status == 200 and 'class="message success" role="status"' in html
    # The same address for a second account is refused on the page, before the account exists.
    web.session.cookie_jar.clear()
    again = {**body, "username": "carol2", "csrf": await open_form(web, "/signup")}
    taken = await web.post("/signup", data=again, allow_redirects=False)
    assert taken.status == 409 and "belongs to another account" in await taken.text()
    assert (await web.post("/users/login", json={"username": "carol2", "password": PASSWORD})).status == 401


async def test_a_bad_address_at_signup_is_named_and_no_account_is_made(
    make_container: Any, aiohttp_client: Any
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    body = {
        "username": "dave",
        "password": PASSWORD,
        "email": "not an address",
        "csrf": await open_form(web, "/signup"),
    }
    refused = await web.post("/signup", data=body, allow_redirects=False)
    html = await refused.text()
    assert refused.status == 422 and 'aria-invalid="true"' in html and 'value="not an address"' in html
    assert 'class="message error" role="alert"' in html
    assert (await web.post("/users/login", json={"username": "dave", "password": PASSWORD})).status == 401


async def test_a_dead_reset_link_offers_a_new_one(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    body = {"username": "erin", "password": PASSWORD, "email": "erin@example.com"}
    assert (await web.post("/users/signup", json=body)).status == 201
    confirm = token_in(await smtp_server.wait_for("erin@example.com", "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": confirm})).status == 200
    sent = await web.post("/forgot", data={"account": "erin", "csrf": await open_form(web, "/forgot")})
    assert 'class="message success"' in await sent.text()
    token = token_in(await smtp_server.wait_for("erin@example.com", "Reset your password"), "reset")
    csrf = await open_form(web, f"/reset?token={token}")
    done = await web.post("/reset", data={"token": token, "newPassword": NEW_PASSWORD, "csrf": csrf})
    assert done.status == 200 and 'class="message success"' in await done.text()
    used = await web.post("/reset", data={"token": token, "newPassword": "yet another staple", "csrf": csrf})
    html = await used.text()
    assert used.status == 422 and 'class="message error"' in html
    assert '<a class="button" href="/forgot">Mail me a new link</a>' in html and 'name="newPassword"' not in html
    dead_verify = await web.post("/verify-email", data={"token": confirm, "csrf": csrf})
    assert dead_verify.status == 422 and 'href="/account"' in await dead_verify.text()


async def test_root_sends_a_browser_to_the_portal_and_anyone_else_a_problem(
    make_container: Any, aiohttp_client: Any
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    browser = await web.get("/", headers=HTML, allow_redirects=False)
    assert browser.status == 303 and browser.headers["Location"] == "/account"
    script = await web.get("/", allow_redirects=False)
    assert script.status == 404 and script.content_type == "application/problem+json"


async def test_every_new_password_field_says_the_rules_and_sign_out_offers_a_way_back(
    make_container: Any, aiohttp_client: Any
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    rules = "At least 8 characters; not a common password."
    reset = await (await web.get("/reset?token=anything")).text()
    assert 'aria-describedby="newPassword-rules"' in reset and f'id="newPassword-rules" class="hint">{rules}<' in reset
    token = await open_form(web, "/signup")
    signed_up = await web.post("/signup", data={"username": "alice", "password": PASSWORD, "csrf": token})
    assert signed_up.status == 200 and f'id="new-password-rules" class="hint">{rules}<' in await signed_up.text()
    leaving = await (await web.get("/logout")).text()
    assert '<a href="/account">Back to your account</a>' in leaving


async def test_the_username_rule_keeps_its_symbols_on_one_line_in_every_language(
    make_container: Any, aiohttp_client: Any
) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    for language, rule in (("en", "3 to 64 characters"), ("de", "3 bis 64 Zeichen"), ("fr", "3 à 64 caractères")):
        html = await (await web.get("/signup", headers={"Accept-Language": language})).text()
        assert rule in html and '<span class="nowrap">. _ - @</span></p>' in html, language
