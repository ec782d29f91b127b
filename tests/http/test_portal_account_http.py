"""The account page, /account, over HTTP against the app: who I am, the address (add, change, resend, verify), the
password, the sessions (end one, end every other), new recovery codes and their download, deleting the account.
Each action is the JSON route's service with the JSON route's proof, so each refusal is pinned here too."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import HTML, PASSWORD, account, enrol_through_pages, form_token, post, signed_up
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, nth_mail, smtp_sections, token_in

Client = TestClient[Any, Any]
NEW_PASSWORD = "a brand new staple"
RECENT_AUTH_SECONDS = 600  # config.yaml's mfa.recent_auth_seconds


@pytest.fixture
async def mailed(make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer) -> Client:
    client: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    return client


@pytest.fixture
async def web(make_container: Any, aiohttp_client: Any) -> Client:
    client: Client = await aiohttp_client(create_app(make_container()))
    return client


async def second_browser(client: Client, aiohttp_client: Any) -> Client:
    """Another browser (its own cookie jar) on the same app, signed in as alice."""
    other: Client = await aiohttp_client(client.server)
    assert (await other.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    return other


def message(html: str) -> str:
    found = re.search(r'<p id="message" class="message (success|error)"[^>]*>([^<]*)</p>', html)
    assert found, "no message on the page"
    return f"{found.group(1)}: {found.group(2)}"


async def test_account_page_shows_who_i_am_my_sessions_and_hides_destructive_forms(web: Client) -> None:
    html = await signed_up(web)
    assert '<strong id="username">alice</strong>' in html
    assert "No address yet" in html and "this browser" in html
    # Every destructive form sits inside a disclosure.
    for action in ("/account/delete", "/security/totp/remove", "/account/recovery-codes"):
        if action in html:
            before = html[: html.index(f'action="{action}"')]
            assert before.count("<details") > before.count("</details>"), action
    assert "/account/delete" in html and html.count('name="csrf"') >= 5


async def test_the_account_page_needs_a_session_and_is_where_a_plain_sign_in_lands(web: Client) -> None:
    refused = await web.get("/account", allow_redirects=False)
    assert refused.status == 303 and refused.headers["Location"] == "/login?rd=/account"
    await signed_up(web)
    signed_in = await web.get("/login", headers=HTML, allow_redirects=False)
    assert signed_in.status == 303 and signed_in.headers["Location"] == "/account"


async def test_add_an_address_takes_the_password_then_mails_a_link_and_resend_replaces_it(
    mailed: Client, smtp_server: SmtpServer
) -> None:
    await signed_up(mailed)
    wrong = await post(mailed, "email", email="alice@example.com", password="not my password")
    assert wrong.status == 422 and message(await wrong.text()) == "error: The password is wrong."
    bad = await post(mailed, "email", email="not an address", password=PASSWORD)
    assert bad.status == 422 and "name@example.com" in message(await bad.text())
    added = await post(mailed, "email", email="alice@example.com", password=PASSWORD)
    html = await added.text()
    assert added.status == 200 and message(html).startswith("success: A link to verify alice@example.com")
    assert '<span class="badge" id="email-state">not verified yet</span>' in html
    first = token_in(await smtp_server.wait_for("alice@example.com", "Confirm your email address"), "verify-email")
    resent = await post(mailed, "email/resend")
    assert resent.status == 200 and message(await resent.text()).startswith("success: A new link")
    again = await post(mailed, "email/resend")  # one link per throttle.reset_mail_interval, as reset mails
    assert again.status == 429 and "please wait" in message(await again.text())
    second = token_in(await nth_mail(smtp_server, "alice@example.com", "Confirm your email address", 2), "verify-email")
    assert second != first
    assert (await mailed.post("/users/email/verify", json={"token": first})).status == 422  # the old link died
    assert (await mailed.post("/users/email/verify", json={"token": second})).status == 200
    html = await account(mailed)
    assert '<span class="badge ok" id="email-state">verified</span>' in html and "Send the link again" not in html
    nothing = await post(mailed, "email/resend")
    assert nothing.status == 409


async def test_an_address_of_another_account_is_refused(mailed: Client, smtp_server: SmtpServer) -> None:
    await signed_up(mailed, "bob", email="bob@example.com")
    mailed.session.cookie_jar.clear()
    await signed_up(mailed, "carol")
    taken = await post(mailed, "email", email="bob@example.com", password=PASSWORD)
    assert taken.status == 409 and "belongs to another account" in message(await taken.text())


async def test_whether_an_address_is_taken_is_told_only_after_the_password(mailed: Client) -> None:
    """A holder of carol's session cookie without her password cannot ask the page which addresses are registered."""
    await signed_up(mailed, "bob", email="bob@example.com")
    mailed.session.cookie_jar.clear()
    await signed_up(mailed, "carol")
    guessed = await post(mailed, "email", email="bob@example.com", password="not carol's password")
    assert guessed.status == 422 and message(await guessed.text()) == "error: The password is wrong."
    api = await mailed.post("/users/me/email", json={"email": "bob@example.com", "password": "not carol's password"})
    assert api.status == 422 and "belongs to another account" not in await api.text()


async def test_an_old_session_with_an_authenticator_app_needs_a_code_to_change_the_address(
    web: Client, clock: ManualClock
) -> None:
    await signed_up(web)
    secret, _ = await enrol_through_pages(web, clock)
    clock.advance(RECENT_AUTH_SECONDS + 1)
    no_code = await post(web, "email", email="alice@example.com", password=PASSWORD)
    assert no_code.status == 422 and "code" in message(await no_code.text()).lower()
    code = pyotp.TOTP(secret).at(clock.now())
    with_code = await post(web, "email", email="alice@example.com", password=PASSWORD, code=code)
    assert with_code.status == 200


async def test_change_password_checks_the_current_one_and_ends_every_other_session(
    web: Client, aiohttp_client: Any
) -> None:
    await signed_up(web)
    other = await second_browser(web, aiohttp_client)
    wrong = await post(web, "password", currentPassword="not it at all", newPassword=NEW_PASSWORD)
    assert wrong.status == 422 and message(await wrong.text()) == "error: The current password is wrong."
    weak = await post(web, "password", currentPassword=PASSWORD, newPassword="password")
    assert weak.status == 422 and "most common passwords" in message(await weak.text())
    assert (await other.get("/auth/verify")).status == 200  # refusals change nothing
    changed = await post(web, "password", currentPassword=PASSWORD, newPassword=NEW_PASSWORD)
    assert changed.status == 200 and message(await changed.text()).startswith("success: Password changed")
    assert (await other.get("/auth/verify")).status == 401
    assert (await web.get("/auth/verify")).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})).status == 200


def own_handle(html: str) -> str:
    """The handle of the session the page marks as this browser's."""
    found = re.search(r'this browser</span>.*?name="id" value="([0-9a-f]{16})"', html, re.S)
    assert found, "no session marked as this browser"
    return found.group(1)


async def test_end_one_session_end_every_other_and_end_my_own(web: Client, aiohttp_client: Any) -> None:
    await signed_up(web)
    phone, laptop = await second_browser(web, aiohttp_client), await second_browser(web, aiohttp_client)
    html = await account(web)
    assert len(re.findall(r'name="id" value="([0-9a-f]{16})"', html)) == 3
    unknown = await post(web, "sessions/end", id="0" * 16)
    assert unknown.status == 404 and "ended already" in message(await unknown.text())
    one = await post(web, "sessions/end", id=own_handle(await account(laptop)))
    assert one.status == 200 and message(await one.text()) == "success: The session has ended."
    assert (await laptop.get("/auth/verify")).status == 401 and (await phone.get("/auth/verify")).status == 200
    others = await post(web, "sessions/end-others")
    assert others.status == 200 and message(await others.text()) == "success: Every other session has ended."
    assert (await phone.get("/auth/verify")).status == 401
    mine = own_handle(await account(web))
    ended = await post(web, "sessions/end", id=mine)
    assert ended.status == 303 and ended.headers["Location"] == "/login"
    assert (await web.get("/auth/verify")).status == 401


async def test_new_recovery_codes_take_the_proof_replace_the_old_ones_and_download_as_text(
    web: Client, clock: ManualClock
) -> None:
    await signed_up(web)
    none_yet = await post(web, "recovery-codes", password=PASSWORD)
    assert none_yet.status == 404
    secret, old_codes = await enrol_through_pages(web, clock)
    wrong = await post(web, "recovery-codes", password="a guessed password")
    assert wrong.status == 422
    clock.advance(RECENT_AUTH_SECONDS + 1)
    no_code = await post(web, "recovery-codes", password=PASSWORD)
    assert no_code.status == 422
    made = await post(web, "recovery-codes", password=PASSWORD, code=pyotp.TOTP(secret).at(clock.now()))
    html = await made.text()
    assert made.status == 200 and made.headers["Cache-Control"] == "no-store"
    assert message(html) == "success: New recovery codes: the old ones no longer work."
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", html)
    assert len(codes) == 10 and not set(codes) & set(old_codes)
    download = await web.post("/account/recovery-codes.txt", data={"csrf": form_token(html), "codes": " ".join(codes)})
    assert download.status == 200 and download.content_type == "text/plain"
    assert download.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'
    assert (await download.text()).split("\n")[2:12] == codes
    garbage = await web.post("/account/recovery-codes.txt", data={"csrf": form_token(html), "codes": "<b>hi</b>"})
    assert garbage.status == 422 and garbage.content_type == "text/html"
    # An old code no longer signs in; a new one does.
    web.session.cookie_jar.clear()
    for code, status in ((old_codes[1], 401), (codes[0], 200)):
        started = await web.post("/users/login", json={"username": "alice", "password": PASSWORD})
        assert started.status == 200 and (await started.json())["mfa"]["methods"] == ["totp"]
        finished = await web.post("/users/login/mfa", json={"code": code})
        assert finished.status == status


async def test_delete_the_account_takes_the_password(web: Client) -> None:
    await signed_up(web)
    wrong = await post(web, "delete", password="not my password")
    assert wrong.status == 422 and message(await wrong.text()) == "error: The password is wrong."
    deleted = await post(web, "delete", password=PASSWORD)
    assert deleted.status == 200 and "Account deleted" in await deleted.text()
    assert (await web.get("/auth/verify")).status == 401
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 401


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        ("email", {"email": "a@example.com", "password": PASSWORD}),
        ("email/resend", {}),
        ("password", {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}),
        ("sessions/end", {"id": "x"}),
        ("sessions/end-others", {}),
        ("recovery-codes", {"password": PASSWORD}),
        ("recovery-codes.txt", {"codes": "abcd-efgh-ijkl-mnop"}),
        ("delete", {"password": PASSWORD}),
    ],
)
async def test_every_account_form_needs_its_form_token_and_a_session(
    web: Client, action: str, fields: dict[str, str]
) -> None:
    await signed_up(web)
    forged = await web.post(f"/account/{action}", data={**fields, "csrf": "forged"}, allow_redirects=False)
    assert forged.status == 403 and forged.content_type == "text/html"
    assert (await web.get("/auth/verify")).status == 200  # nothing happened: still signed in
    web.session.cookie_jar.clear()
    anonymous = await web.post(f"/account/{action}", data={**fields, "csrf": "x"}, allow_redirects=False)
    assert anonymous.status == 303 and anonymous.headers["Location"] == "/login?rd=/account"


SESSION_ITEM = re.compile(
    r'<li><strong>([^<]*)</strong>( <span class="badge ok">this browser</span>)?<br>\n<span class="hint">([^<]*)</span>'
)


async def test_the_sessions_say_where_and_when_the_latest_seen_first(
    web: Client, aiohttp_client: Any, clock: ManualClock
) -> None:
    html = await signed_up(web)
    assert re.search(r"member since \d{4}-\d\d-\d\d</p>", html)
    clock.advance(120)
    await second_browser(web, aiohttp_client)
    clock.advance(120)
    items = SESSION_ITEM.findall(await account(web))  # this browser, seen just now
    assert [bool(current) for _, current, _ in items] == [True, False]
    for _, _, hint in items:
        assert re.fullmatch(r"127\.0\.0\.1 · last seen \d{4}-\d\d-\d\d \d\d:\d\d UTC", hint), hint


async def test_removing_a_factor_on_the_page_mails_the_owner(
    mailed: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await signed_up(mailed)
    assert (await post(mailed, "email", email="alice@example.com", password=PASSWORD)).status == 200
    link = token_in(await smtp_server.wait_for("alice@example.com", "Confirm your email address"), "verify-email")
    assert (await mailed.post("/users/email/verify", json={"token": link})).status == 200
    await enrol_through_pages(mailed, clock)
    await nth_mail(smtp_server, "alice@example.com", "Your two-factor settings were changed", 1)  # the addition
    html = await account(mailed)
    removed = await mailed.post("/security/totp/remove", data={"password": PASSWORD, "csrf": form_token(html)})
    assert removed.status == 200 and message(await removed.text()).startswith("success:")
    notice = await nth_mail(smtp_server, "alice@example.com", "Your two-factor settings were changed", 2)
    assert "removed" in notice.get_body(preferencelist=("plain",)).get_content()
