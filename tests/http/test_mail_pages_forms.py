"""Every mailed link's page form: refused without its form token (and then does nothing), and the "this was not me"
page ending every session, once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import PASSWORD, form_token, signup_verified
from tests.smtp import SmtpServer, smtp_sections, token_in

Client = TestClient[Any, Any]
NEW_PASSWORD = "a brand new staple"


@pytest.fixture
async def web(make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer) -> Client:
    client: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    return client


async def verified_alice(web: Client, smtp_server: SmtpServer) -> None:
    await signup_verified(web, smtp_server)
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200


@pytest.mark.parametrize(
    ("page", "fields"),
    [("forgot", {"account": "alice"}), ("verify-email", {"token": "x"}), ("not-me", {"token": "x"})],
)
async def test_a_mailed_links_form_without_its_form_token_is_refused_and_does_nothing(
    web: Client, smtp_server: SmtpServer, page: str, fields: dict[str, str]
) -> None:
    await verified_alice(web, smtp_server)
    refused = await web.post(f"/{page}", data={**fields, "csrf": "forged"})
    assert refused.status == 403 and refused.content_type == "text/html"
    assert 'class="message error"' in await refused.text()
    assert (await web.get("/users/protected")).status == 200  # still signed in


async def test_not_me_through_the_page_ends_every_session_once(web: Client, smtp_server: SmtpServer) -> None:
    await verified_alice(web, smtp_server)
    changed = await web.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert changed.status == 200
    token = token_in(await smtp_server.wait_for("alice@example.com", "Your password was changed"), "not-me")
    page = await web.get(f"/not-me?token={token}")
    html = await page.text()
    assert page.status == 200 and f'value="{token}"' in html
    assert (await web.get("/users/protected")).status == 200  # the link only shows a page
    done = await web.post("/not-me", data={"token": token, "csrf": form_token(html)})
    body = await done.text()
    assert done.status == 200 and re.search(r'<p id="message" class="message success"', body)
    assert (await web.get("/users/protected")).status == 401
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    again = await web.post("/not-me", data={"token": token, "csrf": form_token(html)})
    used = await again.text()
    assert again.status == 422 and 'class="message error"' in used
    assert '<a class="button" href="/forgot">Reset my password</a>' in used
