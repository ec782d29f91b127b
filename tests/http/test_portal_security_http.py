"""The portal's Security page over HTTP: enrol an authenticator app through the pages (the QR code inline, a code
computed from the secret the page shows, the recovery codes once), sign in with it, remove it; list and remove
passkeys; the pages' policy and form tokens."""

from __future__ import annotations

import html as html_text
import re
from typing import Any

import pyotp
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import (
    PASSWORD,
    enrol_through_pages,
    enrolment_of,
    form_token,
    login,
    post_login,
    register,
    security,
    signup,
)
from tests.helpers import ManualClock
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


async def test_security_needs_a_session(client: Client) -> None:
    old = await client.get("/security", allow_redirects=False)
    assert old.status == 303 and old.headers["Location"] == "/account"  # the second factors live on /account now
    page = await client.get("/account", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/login?rd=/account"


async def test_totp_enrolled_through_the_pages_signs_in_through_the_portal(client: Client, clock: ManualClock) -> None:
    await signup(client)
    await login(client)
    secret, codes = await enrol_through_pages(client, clock)
    assert 'Recovery codes left: <strong id="codes-left">10</strong>.' in await security(client)
    client.session.cookie_jar.clear()
    code_page = await post_login(client, rd="/app")
    code_html = await code_page.text()
    assert '<form method="post" action="/login/mfa">' in code_html
    code = pyotp.TOTP(secret).at(clock.now())
    done = await client.post(
        "/login/mfa", data={"code": code, "csrf": form_token(code_html), "rd": "/app"}, allow_redirects=False
    )
    assert done.status == 303 and done.headers["Location"] == "/app"
    assert (await client.get("/users/protected")).status == 200
    assert codes[0] not in await security(client)  # shown once only


async def test_removing_totp_through_the_page_needs_the_password(client: Client, clock: ManualClock) -> None:
    await signup(client)
    await login(client)
    await enrol_through_pages(client, clock)
    html = await security(client)
    wrong = await client.post(
        "/security/totp/remove", data={"password": "nope nope nope", "code": "", "csrf": form_token(html)}
    )
    assert wrong.status == 422 and "The password is wrong." in await wrong.text()
    removed = await client.post(
        "/security/totp/remove", data={"password": PASSWORD, "code": "", "csrf": form_token(html)}
    )
    assert removed.status == 200
    assert "No authenticator app is set up." in await removed.text()
    assert (await (await client.get("/users/me/mfa")).json())["methods"] == []


async def test_security_forms_need_their_form_token(client: Client) -> None:
    await signup(client)
    await login(client)
    await security(client)
    refused = await client.post("/security/totp", data={"password": PASSWORD, "csrf": "forged"})
    assert refused.status == 403
    assert (await (await client.get("/users/me/mfa")).json())["pending"] == []


async def test_security_page_lists_passkeys_with_the_passkey_script_and_removes_one(client: Client) -> None:
    await signup(client)
    await login(client)
    page = await client.get("/account")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert 'data-passkey="register"' in html and "No passkey yet." in html
    assert (await register(client, SoftAuthenticator(), name="Work <laptop>")).status == 201
    html = await security(client)
    assert "Work &lt;laptop&gt;" in html  # escaped
    passkey_id = re.search(
        r'action="/security/passkeys/remove">\s*<input[^>]*>\s*<input[^>]*name="id" value="([^"]+)"', html
    )
    assert passkey_id
    form = {"id": html_text.unescape(passkey_id.group(1)), "password": PASSWORD, "code": "", "csrf": form_token(html)}
    removed = await client.post("/security/passkeys/remove", data=form)
    assert removed.status == 200 and "No passkey yet." in await removed.text()


async def test_second_factor_page_offers_the_passkey_button_only_to_passkey_users(client: Client) -> None:
    await signup(client)
    await login(client)
    assert (await register(client, SoftAuthenticator())).status == 201
    client.session.cookie_jar.clear()
    page = await post_login(client)
    html = await page.text()
    assert 'data-passkey="second-factor"' in html and 'action="/login/mfa"' not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


async def test_v7_5_1_the_page_starts_an_authenticator_app_only_with_the_password(client: Client) -> None:
    await signup(client)
    await login(client)  # the attacker holds this session's cookie, not the password
    html = await security(client)
    assert 'id="totp-add-password" name="password" type="password"' in html
    wrong = await client.post("/security/totp", data={"password": "a guessed password", "csrf": form_token(html)})
    page = await wrong.text()
    assert wrong.status == 422 and "The password is wrong." in page
    assert "<svg" not in page and "totp-secret" not in page
    assert (await (await client.get("/users/me/mfa")).json())["pending"] == []


async def test_v7_5_1_a_cookie_without_the_enrolment_token_sees_no_pending_secret_and_confirms_nothing(
    client: Client, clock: ManualClock
) -> None:
    await signup(client)
    await login(client)
    html = await security(client)
    started = await client.post("/security/totp", data={"password": PASSWORD, "csrf": form_token(html)})
    owners = await started.text()  # the owner's page: the secret and the token
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', owners)
    assert secret
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    for forged in ("", "forged", enrolment_of(owners)[:-4] + "AAAA"):
        attempt = await client.post(
            "/security/totp/confirm", data={"code": code, "enrolment": forged, "csrf": form_token(owners)}
        )
        page = await attempt.text()
        assert attempt.status == 422 and secret.group(1) not in page and "<svg" not in page
    assert (await (await client.get("/users/me/mfa")).json())["methods"] == []


async def test_v6_3_1_wrong_passwords_on_the_security_page_are_throttled(
    make_container: Any, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_app(make_container(throttle={"client_max_failures": 3})))
    await signup(client)
    await login(client)
    html = await security(client)
    for _ in range(3):
        form = {"password": "a guessed password", "csrf": form_token(html)}
        assert (await client.post("/security/totp", data=form)).status == 422
    throttled = await client.post("/security/totp", data={"password": PASSWORD, "csrf": form_token(html)})
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    assert "Too many wrong passwords" in await throttled.text()


async def test_the_page_asks_the_password_for_a_new_passkey_and_a_code_once_an_app_is_set_up(
    client: Client, clock: ManualClock
) -> None:
    await signup(client)
    await login(client)
    html = await security(client)
    assert 'id="passkey-password"' in html and 'id="passkey-code"' not in html
    await enrol_through_pages(client, clock)
    assert 'id="passkey-code"' in await security(client)
