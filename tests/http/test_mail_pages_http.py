"""The portal's pages for mailed links, against a real SMTP server: a link only shows a page, its form acts."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, smtp_sections, token_in

NEW_PASSWORD = "a brand new staple"
Client = TestClient[Any, Any]


def form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def test_forgot_then_reset_through_the_pages(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    body = {"username": "alice", "password": PASSWORD, "email": "alice@example.com"}
    assert (await web.post("/users/signup", json=body)).status == 201
    confirm = await smtp_server.wait_for("alice@example.com", "Confirm your email address")
    verify_link = token_in(confirm, "verify-email")
    page = await web.get(f"/verify-email?token={verify_link}")
    assert page.status == 200 and page.content_type == "text/html"
    verified = await web.post("/verify-email", data={"token": verify_link, "csrf": form_token(await page.text())})
    assert verified.status == 200 and "verified" in await verified.text()

    forgot_page = await web.get("/forgot")
    sent = await web.post("/forgot", data={"account": "alice", "csrf": form_token(await forgot_page.text())})
    unknown = await web.post("/forgot", data={"account": "nobody", "csrf": form_token(await forgot_page.text())})
    assert sent.status == unknown.status == 200 and await sent.text() == await unknown.text()
    token = token_in(await smtp_server.wait_for("alice@example.com", "Reset your password"), "reset")

    reset_page = await web.get(f"/reset?token={token}")
    assert f'value="{token}"' in await reset_page.text()
    csrf = form_token(await reset_page.text())
    weak = await web.post("/reset", data={"token": token, "newPassword": "password", "csrf": csrf})
    assert weak.status == 422 and f'value="{token}"' in await weak.text()
    done = await web.post("/reset", data={"token": token, "newPassword": NEW_PASSWORD, "csrf": csrf})
    assert done.status == 200
    login = await web.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert login.status == 200
    reused = await web.post("/reset", data={"token": token, "newPassword": "yet another staple", "csrf": csrf})
    assert reused.status == 422
    # The reset and the first sign-in each tell the owner; waiting for both leaves no delivery in flight when the
    # app closes (a connection cut mid-send is garbage that warns later, in whichever test runs then).
    await smtp_server.wait_for("alice@example.com", "Your password was changed")
    await smtp_server.wait_for("alice@example.com", "New sign-in to your account")


async def test_a_page_form_without_its_form_token_is_refused(make_container: Any, aiohttp_client: Any) -> None:
    web: Client = await aiohttp_client(create_app(make_container()))
    refused = await web.post("/reset", data={"token": "x", "newPassword": NEW_PASSWORD, "csrf": "forged"})
    assert refused.status == 403 and refused.content_type == "text/html"


async def test_the_forgot_page_mails_an_account_once_per_interval_and_answers_alike(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    for name in ("alice", "bob"):
        body = {"username": name, "password": PASSWORD, "email": f"{name}@example.com"}
        assert (await web.post("/users/signup", json=body)).status == 201
        confirm = await smtp_server.wait_for(f"{name}@example.com", "Confirm your email address")
        assert (await web.post("/users/email/verify", json={"token": token_in(confirm, "verify-email")})).status == 200
    csrf = form_token(await (await web.get("/forgot")).text())
    pages = [await web.post("/forgot", data={"account": "alice", "csrf": csrf}) for _ in range(3)]
    assert {page.status for page in pages} == {200} and len({await page.text() for page in pages}) == 1
    clock.advance(299)  # one second short of throttle.reset_mail_interval
    assert (await web.post("/forgot", data={"account": "alice", "csrf": csrf})).status == 200
    await web.post("/forgot", data={"account": "bob", "csrf": csrf})  # a later mail, to know the sender is done
    await smtp_server.wait_for("bob@example.com", "Reset your password")
    assert [m["Subject"] for m in smtp_server.mails_to("alice@example.com")].count("Reset your password") == 1
