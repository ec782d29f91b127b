"""The login portal over HTTP against the app on 127.0.0.1: pages, form tokens, redirects, errors as pages,
forward-auth for browsers, closed sign-up, the shared cookie domain and "keep me signed in"."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient

from authsvc.web.app import create_app
from tests.driver import (
    HTML,
    PASSWORD,
    form_token,
    open_form,
    post_login,
    signup_and_login,
)
from tests.helpers import ManualClock, cookie_value

Client = TestClient[Any, Any]


@pytest.fixture
async def portal(make_container: Any, aiohttp_client: Any, request: pytest.FixtureRequest) -> Client:
    sections = getattr(request, "param", {})
    client: Client = await aiohttp_client(create_app(make_container(**sections)))
    return client


async def test_login_page_is_an_accessible_form_with_its_own_policy(portal: Client) -> None:
    page = await portal.get("/login?rd=/app")
    html = await page.text()
    assert page.status == 200 and page.content_type == "text/html"
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'autocomplete="username"' in html and 'autocomplete="current-password"' in html
    assert '<meta name="viewport"' in html and '<html lang="en">' in html
    assert '<input type="hidden" name="rd" value="/app">' in html
    # The one script is the same-origin passkey button's; no inline script, no inline style.
    assert re.findall(r"<script[^>]*>", html) == ['<script src="/portal/static/passkeys.js" defer>']
    assert "style=" not in html and "onclick" not in html
    assert "Keep me signed in" not in html  # remember_me_lifetime is 0
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy and "script-src 'self'" in policy
    # Pages without a passkey button keep script-src 'none'.
    assert "script-src 'none'" in (await portal.get("/signup")).headers["Content-Security-Policy"]
    script = await portal.get("/portal/static/passkeys.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "navigator.credentials" in await script.text()
    assert page.headers["Referrer-Policy"] == "same-origin"
    csrf_cookie = page.cookies["sid-csrf"]
    assert csrf_cookie["httponly"] and csrf_cookie["samesite"] == "Strict"
    style = await portal.get("/portal/style.css")
    assert style.status == 200 and style.content_type == "text/css"
    # The API keeps its strict policy.
    api = await portal.get("/healthz")
    assert api.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert api.headers["Referrer-Policy"] == "no-referrer"


async def test_login_form_signs_in_with_the_api_cookie_and_returns_to_rd(portal: Client) -> None:
    await signup_and_login(portal)
    portal.session.cookie_jar.clear()
    response = await post_login(portal, rd="/app/report?page=2")
    assert response.status == 303
    assert response.headers["Location"] == "/app/report?page=2"
    set_cookie = response.headers.getall("Set-Cookie")
    [session] = [line for line in set_cookie if line.startswith("sid=")]
    assert "HttpOnly" in session and "SameSite=Lax" in session and "Max-Age=1800" in session
    verify = await portal.get("/auth/verify", headers={"Cookie": f"sid={cookie_value(session)}"})
    assert verify.status == 200 and verify.headers["X-Auth-User-Name"] == "alice"
    # Signed in: the page says who, and offers to continue and to sign out.
    page = await (await portal.get("/login?rd=/app")).text()
    assert "You are signed in as <strong>alice</strong>" in page and 'href="/app"' in page


async def test_login_with_a_hostile_rd_lands_on_the_default(portal: Client) -> None:
    await signup_and_login(portal)
    response = await post_login(portal, rd="https://evil.example/")
    assert response.status == 303 and response.headers["Location"] == "/account"
    page = await portal.get("/login?rd=//evil.example", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == "/account"  # signed in, nowhere allowed to go


async def test_rd_is_one_percent_encoded_query_parameter(portal: Client) -> None:
    origin = f"http://{portal.host}:{portal.port}"
    page = await portal.get("/login", params={"rd": f"{origin}/a?b=1&c=2", "x": "1"})
    html = await page.text()
    assert f'name="rd" value="{origin}/a?b=1&amp;c=2"' in html
    assert f'href="/signup?rd={quote(origin + "/a?b=1&c=2", safe="")}"' in html


async def test_failed_login_shows_the_form_again_with_one_message_and_no_session(portal: Client) -> None:
    await signup_and_login(portal)
    portal.session.cookie_jar.clear()
    for username in ("alice", "nobody"):
        response = await post_login(portal, username=username, password="wrong password")
        html = await response.text()
        assert response.status == 401 and response.content_type == "text/html"
        assert "Invalid username or password." in html
        assert not any(
            line.startswith("sid=") and "Max-Age=0" not in line for line in response.headers.getall("Set-Cookie", [])
        )
        assert f'value="{username}"' in html and "wrong password" not in html


async def test_throttled_login_shows_the_wait(portal: Client) -> None:
    await signup_and_login(portal)
    for _ in range(10):
        await post_login(portal, password="wrong password")
    response = await post_login(portal)
    assert response.status == 429
    assert int(response.headers["Retry-After"]) > 0
    assert re.search(r"Try again in (1 second|\d+ seconds|\d+ minutes)\.", await response.text())


async def test_form_token_is_required_and_bound_to_the_cookie(portal: Client) -> None:
    await signup_and_login(portal)
    body = {"username": "alice", "password": PASSWORD}
    missing = await portal.post("/login", data={**body, "csrf": ""}, allow_redirects=False)
    assert missing.status == 403 and "The form expired" in await missing.text()
    token = await open_form(portal)
    portal.session.cookie_jar.clear()  # the token without its cookie
    stolen = await portal.post("/login", data={**body, "csrf": token}, allow_redirects=False)
    assert stolen.status == 403 and stolen.content_type == "text/html"


async def test_foreign_origin_is_refused_with_a_page(portal: Client) -> None:
    token = await open_form(portal)
    body = {"username": "alice", "password": PASSWORD, "csrf": token}
    response = await portal.post("/login", data=body, headers={"Origin": "https://evil.example"})
    assert response.status == 403 and response.content_type == "text/html"
    assert "Cross-site request refused" in await response.text()


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"json": {"username": "a", "password": "b", "csrf": "c"}}, 415),
        ({"data": "username=a&username=b&password=c&csrf=d"}, 400),
        ({"data": {"username": "a", "password": "b", "csrf": "c", "admin": "1"}}, 400),
        ({"data": {"username": "a"}}, 400),
        ({"data": b"username=%ff&password=b&csrf=c"}, 403),  # undecodable bytes are replaced, the token fails
    ],
)
async def test_bad_forms_answer_a_4xx_page(portal: Client, kwargs: dict[str, Any], status: int) -> None:
    if isinstance(kwargs.get("data"), str | bytes):
        kwargs["headers"] = {"Content-Type": "application/x-www-form-urlencoded"}
    response = await portal.post("/login", **kwargs)
    assert response.status == status and response.content_type == "text/html"
    assert "<h1>" in await response.text()


async def test_logout_page_confirms_and_post_ends_the_session(portal: Client) -> None:
    cookie = await signup_and_login(portal)
    page = await portal.get("/logout")
    html = await page.text()
    assert page.status == 200 and '<form method="post" action="/logout">' in html and "alice" in html
    response = await portal.post("/logout", data={"csrf": form_token(html)}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert (await portal.get("/auth/verify", headers={"Cookie": f"sid={cookie}"})).status == 401
    assert (await portal.get("/logout", allow_redirects=False)).headers["Location"] == "/login"


async def test_logout_needs_the_form_token(portal: Client) -> None:
    cookie = await signup_and_login(portal)
    assert (await portal.post("/logout", data={"csrf": "forged"})).status == 403
    assert (await portal.get("/auth/verify", headers={"Cookie": f"sid={cookie}"})).status == 200


async def test_signup_page_makes_an_account_and_signs_in(portal: Client) -> None:
    token = await open_form(portal, "/signup")
    body = {"username": "Bob", "password": PASSWORD, "csrf": token, "rd": "/app"}
    response = await portal.post("/signup", data=body, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/app"
    assert (await portal.get("/auth/verify")).headers["X-Auth-User-Name"] == "bob"
    taken = await portal.post("/signup", data={**body, "username": "BOB"}, allow_redirects=False)
    assert taken.status == 409 and "already taken" in await taken.text()
    weak = await portal.post("/signup", data={**body, "username": "carol", "password": "password"})
    html = await weak.text()
    assert weak.status == 422 and 'aria-invalid="true"' in html and "Password " in html


@pytest.mark.parametrize("portal", [{"users": {"require_verified_email": True}}], indirect=True)
async def test_signup_page_opens_no_session_while_a_verified_address_is_required(portal: Client) -> None:
    page = await portal.get("/signup")
    assert re.search(r'<input id="email" name="email" type="email"[^>]* required', await page.text())
    token = await open_form(portal, "/signup")
    body = {"username": "bob", "password": PASSWORD, "csrf": token}
    without = await portal.post("/signup", data=body, allow_redirects=False)
    assert without.status == 422 and "Enter the address we may mail a link to." in await without.text()
    response = await portal.post("/signup", data={**body, "email": "bob@example.com"}, allow_redirects=False)
    html = await response.text()
    assert response.status == 202 and "Open the link we mailed to your address" in html
    assert 'class="message success" role="status"' in html
    assert (await portal.get("/auth/verify")).status == 401
    login = await portal.post("/users/login", json={"username": "bob", "password": PASSWORD})
    assert login.status == 403  # the account exists and waits for its address


@pytest.mark.parametrize("portal", [{"users": {"self_signup": False}}], indirect=True)
async def test_closed_signup_answers_403_everywhere(portal: Client) -> None:
    api = await portal.post("/users/signup", json={"username": "eve", "password": PASSWORD})
    assert api.status == 403 and api.content_type == "application/problem+json"
    page = await portal.get("/signup")
    assert page.status == 403 and page.content_type == "text/html"
    assert "Sign-up is closed" in await page.text()
    posted = await portal.post("/signup", data={"username": "eve", "password": PASSWORD, "csrf": "x"})
    assert posted.status == 403
    assert "Create one" not in await (await portal.get("/login")).text()


@pytest.mark.parametrize("portal", [{"session": {"remember_me_lifetime": 2_592_000}}], indirect=True)
async def test_keep_me_signed_in_replaces_the_absolute_lifetime(portal: Client, clock: ManualClock) -> None:
    assert "Keep me signed in" in await (await portal.get("/login")).text()
    await signup_and_login(portal)
    portal.session.cookie_jar.clear()
    assert (await post_login(portal, remember="on")).status == 303
    for _ in range(43200 // 1200 + 2):  # beyond the 12 h absolute lifetime, active all along
        clock.advance(1200)
        response = await portal.get("/users/protected")
    assert response.status == 200
    session = await (await portal.get("/auth/session")).json()
    assert session["session"]["absoluteExpiresAt"] > session["session"]["createdAt"]


@pytest.mark.parametrize(
    "portal",
    [{"session": {"cookie_domain": "example.com"}, "server": {"trusted_proxies": ["127.0.0.1/32"]}}],
    indirect=True,
)
async def test_cookie_domain_shares_the_cookie_and_widens_redirects_and_origins(portal: Client) -> None:
    await signup_and_login(portal)
    response = await post_login(portal, rd="http://app2.example.com/x")  # development: http is allowed
    assert response.status == 303 and response.headers["Location"] == "http://app2.example.com/x"
    [session] = [line for line in response.headers.getall("Set-Cookie") if line.startswith("sid=")]
    assert "Domain=example.com" in session
    sibling = await portal.post("/users/logout", headers={"Origin": "http://app1.example.com"})
    assert sibling.status == 200
    assert (await portal.post("/users/logout", headers={"Origin": "http://example.com.evil.io"})).status == 403


@pytest.fixture
async def forward_auth(make_container: Any, aiohttp_client: Any) -> Client:
    container = make_container(server={"trusted_proxies": ["127.0.0.1/32"], "public_url": "https://auth.example.com"})
    client: Client = await aiohttp_client(create_app(container))
    return client


TRAEFIK = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "app.example.com", "X-Forwarded-Uri": "/r?a=1&b=2"}


async def test_forward_auth_sends_a_browser_to_the_portal_with_the_original_url(forward_auth: Client) -> None:
    response = await forward_auth.get("/auth/forward-auth", headers={**HTML, **TRAEFIK}, allow_redirects=False)
    assert response.status == 302
    rd = quote("https://app.example.com/r?a=1&b=2", safe="")
    assert response.headers["Location"] == f"https://auth.example.com/login?rd={rd}"


async def test_forward_auth_answers_401_to_non_browsers_and_who_to_a_session(forward_auth: Client) -> None:
    assert (await forward_auth.get("/auth/forward-auth", headers=TRAEFIK)).status == 401
    assert (await forward_auth.get("/auth/forward-auth", headers={"Accept": "application/json"})).status == 401
    await signup_and_login(forward_auth)
    response = await forward_auth.get("/auth/forward-auth", headers={**HTML, **TRAEFIK}, allow_redirects=False)
    assert response.status == 200 and response.headers["X-Auth-User-Name"] == "alice"


async def test_forward_auth_ignores_forwarded_headers_from_untrusted_peers(portal: Client) -> None:
    response = await portal.get("/auth/forward-auth", headers={**HTML, **TRAEFIK}, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == f"http://{portal.host}:{portal.port}/login"


@pytest.mark.parametrize(
    ("path", "content_type"), [("/logout", "text/html"), ("/users/signup", "application/problem+json")]
)
async def test_multipart_part_with_a_malformed_header_is_400_not_500(
    portal: Client, path: str, content_type: str
) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="\xc3\x91\xf3\xbd\xb1\xae/\x08"\r\n\r\nnull\r\n--b--\r\n'
    response = await portal.post(path, data=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status == 400 and response.content_type == content_type
