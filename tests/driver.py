"""The steps every HTTP test takes, in one place: sign up, log in, enrol TOTP and finish with a code, register and
use a passkey, read a page's form token and post its forms. Tests speak through these instead of importing each
other's helpers; each step asserts what it must see to go on, so a test reads as the user's journey."""

from __future__ import annotations

import html as html_text
import re
import secrets
from typing import Any

import aiohttp
import pyotp
from aiohttp.test_utils import TestClient

from tests.helpers import ManualClock, cookie_value
from tests.smtp import SmtpServer, token_in
from tests.webauthn_authenticator import SoftAuthenticator

PASSWORD = "correct horse battery"
ADMIN_SCOPES = ["users:read", "users:write", "sessions:write", "events:read"]
ADMIN_ROOT_TOKEN = secrets.token_urlsafe(32)
ADMIN_READER_TOKEN = secrets.token_urlsafe(32)
ADMIN = {  # the config sections of an admin API with two callers: root (every scope) and reader (users:read)
    "admin": {
        "tokens": [
            {"name": "root", "token": ADMIN_ROOT_TOKEN, "scopes": ADMIN_SCOPES},
            {"name": "reader", "token": ADMIN_READER_TOKEN, "scopes": ["users:read"]},
        ],
        "max_page_size": 5,
    }
}
ADMIN_ROOT = {"Authorization": f"Bearer {ADMIN_ROOT_TOKEN}"}  # the headers each admin caller sends
ADMIN_READER = {"Authorization": f"Bearer {ADMIN_READER_TOKEN}"}
Client = TestClient[Any, Any]


def code_at(secret: str, clock: ManualClock, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now() + 30 * offset_steps)


async def signup(client: Client, name: str = "alice") -> None:
    assert (await client.post("/users/signup", json={"username": name, "password": PASSWORD})).status == 201


async def login(client: Client, name: str = "alice") -> Any:
    return await client.post("/users/login", json={"username": name, "password": PASSWORD})


async def start_totp(client: Client) -> tuple[str, str]:
    """Begin an enrolment with the password; returns the secret and the enrolment token its confirmation needs."""
    started = await client.post("/users/me/mfa/totp", json={"password": PASSWORD})
    assert started.status == 200, await started.text()
    body = await started.json()
    return body["secret"], body["enrolmentToken"]


async def confirm_totp(client: Client, token: str, code: str) -> Any:
    return await client.post("/users/me/mfa/totp/confirm", json={"enrolmentToken": token, "code": code})


async def enrol(client: Client, clock: ManualClock, name: str = "alice") -> tuple[str, list[str]]:
    """Sign up, log in, enrol TOTP; returns the secret and the recovery codes. The clock moves past the used step."""
    await signup(client, name)
    assert (await login(client, name)).status == 200
    secret, token = await start_totp(client)
    confirmed = await confirm_totp(client, token, code_at(secret, clock))
    assert confirmed.status == 200
    codes = (await confirmed.json())["recoveryCodes"]
    clock.advance(30)
    return secret, codes


async def mfa_login(client: Client, code: str, name: str = "alice") -> Any:
    first = await login(client, name)
    assert first.status == 200
    return await client.post("/users/login/mfa", json={"code": code})


async def protected_with(client: Client, session_cookie: str) -> int:
    """/users/protected's status for this cookie alone, whatever the client's cookie jar holds."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as bare:
        response = await bare.get(client.make_url("/users/protected"), headers={"Cookie": f"sid={session_cookie}"})
        return response.status


async def signup_and_login(client: Client, name: str = "alice", password: str = PASSWORD) -> str:
    assert (await client.post("/users/signup", json={"username": name, "password": password})).status == 201
    login = await client.post("/users/login", json={"username": name, "password": password})
    assert login.status == 200
    return cookie_value(login.headers["Set-Cookie"])


HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def form_token(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def open_form(client: Client, path: str = "/login") -> str:
    page = await client.get(path)
    assert page.status == 200
    return form_token(await page.text())


async def post_login(client: Client, **fields: str) -> Any:
    body = {"username": "alice", "password": PASSWORD, "csrf": await open_form(client), **fields}
    return await client.post("/login", data=body, allow_redirects=False)


PROOF = {"password": PASSWORD}  # asking for registration options takes the proof removing a factor takes


async def register(
    client: Client,
    authenticator: SoftAuthenticator,
    name: str = "laptop",
    proof: dict[str, str] = PROOF,
    **tamper: Any,
) -> Any:
    options = await client.post("/users/me/webauthn/register/options", json=proof)
    assert options.status == 200, await options.text()
    credential = authenticator.create(await options.json(), **tamper)
    return await client.post("/users/me/webauthn/register", json={"name": name, "credential": credential})


async def enrolled(client: Client, authenticator: SoftAuthenticator, name: str = "alice") -> dict[str, Any]:
    """Sign up, log in, register a passkey; returns its view."""
    await signup(client, name)
    assert (await login(client, name)).status == 200
    registered = await register(client, authenticator)
    assert registered.status == 201, await registered.text()
    view: dict[str, Any] = await registered.json()
    return view


async def second_step(client: Client, authenticator: SoftAuthenticator, **tamper: Any) -> Any:
    first = await login(client)
    assert (await first.json())["mfa"] == {"methods": ["webauthn"]}
    options = await client.post("/users/login/mfa/webauthn/options")
    assert options.status == 200, await options.text()
    credential = authenticator.get(await options.json(), **tamper)
    return await client.post("/users/login/mfa/webauthn", json={"credential": credential})


async def passwordless(client: Client, authenticator: SoftAuthenticator, **tamper: Any) -> Any:
    options = await client.post("/users/login/webauthn/options")
    assert options.status == 200, await options.text()
    credential = authenticator.get(await options.json(), **tamper)
    return await client.post("/users/login/webauthn", json={"credential": credential})


async def security(client: Client) -> str:
    page = await client.get("/account", allow_redirects=False)
    assert page.status == 200, page.status
    return await page.text()


def enrolment_of(page: str) -> str:
    token = re.search(r'name="enrolment" value="([^"]+)"', page)
    assert token, "no enrolment token in the page"
    return html_text.unescape(token.group(1))


async def enrol_through_pages(client: Client, clock: ManualClock) -> tuple[str, list[str]]:
    html = await security(client)
    started = await client.post("/security/totp", data={"password": PASSWORD, "csrf": form_token(html)})
    assert started.status == 200 and started.headers["Cache-Control"] == "no-store"
    page = await started.text()
    assert '<figure id="qr"><svg' in page
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert secret
    form = {"enrolment": enrolment_of(page), "csrf": form_token(page)}
    wrong = await client.post("/security/totp/confirm", data={**form, "code": "000000"})
    assert wrong.status == 422 and "<svg" in await wrong.text()
    code = pyotp.TOTP(secret.group(1)).at(clock.now())
    confirmed = await client.post("/security/totp/confirm", data={**form, "code": code})
    assert confirmed.status == 200 and confirmed.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z2-7-]+)</code></li>", await confirmed.text())
    assert len(codes) == 10
    clock.advance(30)
    return secret.group(1), codes


async def signed_up(client: Client, name: str = "alice", **fields: str) -> str:
    """A user signed up and in through the portal; returns the account page."""
    page = await client.get("/signup")
    body = {"username": name, "password": PASSWORD, "csrf": form_token(await page.text()), **fields}
    landed = await client.post("/signup", data=body, allow_redirects=False)
    assert landed.status == 303 and landed.headers["Location"] == "/account"
    return await account(client)


async def account(client: Client) -> str:
    page = await client.get("/account", allow_redirects=False)
    assert page.status == 200, page.status
    return await page.text()


async def post(client: Client, action: str, **fields: str) -> Any:
    data = {"csrf": form_token(await account(client)), **fields}
    return await client.post(f"/account/{action}", data=data, allow_redirects=False)


async def signup_verified(
    client: Client, mailbox: SmtpServer, name: str = "alice", address: str = "alice@example.com"
) -> None:
    """Sign up with an address and open the verification link the mailbox received (no session yet)."""
    body = {"username": name, "password": PASSWORD, "email": address}
    assert (await client.post("/users/signup", json=body)).status == 201
    link = token_in(await mailbox.wait_for(address, "Confirm your email address"), "verify-email")
    assert (await client.post("/users/email/verify", json={"token": link})).status == 200


def new_name(prefix: str = "user") -> str:
    """A user name no other test (nor an earlier run on the same database) has taken."""
    return f"{prefix}{secrets.token_hex(4)}"


def session_cookie(response: aiohttp.ClientResponse) -> str:
    """The session cookie a response sets (a real process's answer, read by aiohttp's client)."""
    return cookie_value(response.headers["Set-Cookie"])
