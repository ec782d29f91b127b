"""One revocation generation per user (issue 30, item 3), over HTTP against the app on every backend, with real mail
through aiosmtpd: a remedy (password change or reset, "this was not me", sign out everywhere, `revoke-sessions`,
`mfa-reset`) leaves nothing issued before it alive: no pending login (the `sid_mfa` cookie), no reset link, no
device cookie. What the owner sees and what the attacker sees, each pinned."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pyotp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.login.outcomes import NO_PENDING_LOGIN
from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, nth_mail, smtp_sections, text_of, token_in

NEW_PASSWORD = "a brand new staple"
OWNER = "alice@example.com"
Client = TestClient[Any, Any]


class Browser:
    """Another browser on the same app: a cookie jar of its own."""

    def __init__(self, client: Client) -> None:
        self._client = client
        # No keep-alive: nothing is left open for the garbage collector to warn about.
        self.session = aiohttp.ClientSession(
            cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(force_close=True)
        )

    async def post(self, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        return await self.session.post(self._client.make_url(path), **kwargs)

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.session.get(self._client.make_url(path))

    async def login(self, password: str = PASSWORD) -> aiohttp.ClientResponse:
        return await self.post("/users/login", json={"username": "alice", "password": password})


@pytest.fixture
def mail_container(make_container: Callable[..., Container], smtp_server: SmtpServer) -> Container:
    return make_container(**smtp_sections(smtp_server))


@pytest.fixture
async def web(aiohttp_client: Any, mail_container: Container) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(mail_container))
    # The sender is not cut off mid-delivery (its SMTP connection would be left for the garbage collector).
    for _ in range(250):
        if not await mail_container.outbox().repository.pending():
            break
        await asyncio.sleep(0.02)  # the sender delivers on a real socket, not on a clock


@pytest.fixture
async def attacker(web: Client) -> AsyncIterator[Browser]:
    browser = Browser(web)
    yield browser
    await browser.session.close()


async def owner_with_totp(web: Client, smtp: SmtpServer, clock: ManualClock) -> str:
    """alice, with a verified address, logged in on `web` with TOTP enrolled; returns the TOTP secret."""
    signup = {"username": "alice", "password": PASSWORD, "email": OWNER}
    assert (await web.post("/users/signup", json=signup)).status == 201
    verify = token_in(await smtp.wait_for(OWNER, "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": verify})).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    enrolment = await (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    secret: str = enrolment["secret"]
    confirmed = await web.post(
        "/users/me/mfa/totp/confirm",
        json={"enrolmentToken": enrolment["enrolmentToken"], "code": pyotp.TOTP(secret).at(clock.now())},
    )
    assert confirmed.status == 200
    clock.advance(30)
    return secret


async def _password_change(web: Client, container: Container, smtp: SmtpServer) -> None:
    body = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await web.post("/users/me/password", json=body)).status == 200


async def _sign_out_everywhere(web: Client, container: Container, smtp: SmtpServer) -> None:
    assert (await web.delete("/users/me/sessions")).status == 200


async def _administrator_revoke_sessions(web: Client, container: Container, smtp: SmtpServer) -> None:
    assert await container.auth_service().end_sessions_of("alice") is not None  # `authsvc revoke-sessions alice`


async def _reset_by_mail(web: Client, container: Container, smtp: SmtpServer) -> None:
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    token = token_in(await smtp.wait_for(OWNER, "Reset your password"), "reset")
    assert (await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})).status == 200


async def _not_me(web: Client, container: Container, smtp: SmtpServer) -> None:
    notice = await smtp.wait_for(OWNER, "New sign-in to your account")  # the attacker's password step sent none:
    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200


REMEDIES = [_password_change, _sign_out_everywhere, _administrator_revoke_sessions, _reset_by_mail, _not_me]
Remedy = Callable[[Client, Container, SmtpServer], Awaitable[None]]


@pytest.mark.parametrize("remedy", REMEDIES, ids=lambda remedy: remedy.__name__.strip("_"))
async def test_a_pending_login_begun_before_a_remedy_cannot_complete_after_it(
    web: Client,
    mail_container: Container,
    smtp_server: SmtpServer,
    clock: ManualClock,
    attacker: Browser,
    remedy: Remedy,
) -> None:
    secret = await owner_with_totp(web, smtp_server, clock)
    # The attacker knows the password: the password step passes and waits for the second factor.
    first = await attacker.login()
    assert (await first.json())["msg"] == "Second factor required"

    await remedy(web, mail_container, smtp_server)

    # The attacker: even the right code (stolen, phished, or a recovery code) opens nothing.
    finished = await attacker.post("/users/login/mfa", json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert finished.status == 401 and (await finished.json())["detail"] == NO_PENDING_LOGIN
    assert (await attacker.get("/users/protected")).status == 401
    # The owner: a login begun after the remedy completes as usual.
    password = PASSWORD if remedy in (_sign_out_everywhere, _administrator_revoke_sessions, _not_me) else NEW_PASSWORD
    owner = Browser(web)
    try:
        first = await owner.login(password)
        if remedy is _not_me:  # the authenticator app came after the sign-in the notice was about: removed with it
            assert (await first.json())["msg"] == "User logged in"
        else:
            assert (await first.json())["msg"] == "Second factor required"
            clock.advance(30)
            done = await owner.post("/users/login/mfa", json={"code": pyotp.TOTP(secret).at(clock.now())})
            assert done.status == 200, await done.text()
    finally:
        await owner.session.close()


async def test_a_pending_login_dies_with_mfa_reset(
    web: Client, mail_container: Container, smtp_server: SmtpServer, clock: ManualClock, attacker: Browser
) -> None:
    await owner_with_totp(web, smtp_server, clock)
    assert (await (await attacker.login()).json())["msg"] == "Second factor required"
    reset = await mail_container.mfa_service().reset("alice")  # `authsvc mfa-reset alice`
    assert reset is not None and reset[1] is True
    # The pending login finds no factor and no generation to complete with; the owner's password login is plain.
    assert (await attacker.post("/users/login/mfa", json={"code": "000000"})).status == 401
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200


async def test_a_reset_link_mailed_before_sign_out_everywhere_is_dead(
    web: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await owner_with_totp(web, smtp_server, clock)
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    token = token_in(await smtp_server.wait_for(OWNER, "Reset your password"), "reset")
    # The owner, who did not ask for it, signs out everywhere: the link in the mail (read by whoever reads it) dies.
    assert (await web.delete("/users/me/sessions")).status == 200
    dead = await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})
    assert dead.status == 422 and dead.content_type == "application/problem+json"
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200


async def test_after_sign_out_everywhere_the_attackers_browser_is_a_stranger_again(
    web: Client, smtp_server: SmtpServer, attacker: Browser
) -> None:
    """The attacker's device cookie (from a login with the password) no longer vouches for the browser: its next
    login is mailed to the owner as a new sign-in, and it no longer passes the account lock like the owner's."""
    signup = {"username": "alice", "password": PASSWORD, "email": OWNER}
    assert (await web.post("/users/signup", json=signup)).status == 201
    verify = token_in(await smtp_server.wait_for(OWNER, "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": verify})).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    assert (await attacker.login()).status == 200
    await nth_mail(smtp_server, OWNER, "New sign-in to your account", 2)  # the owner's and the attacker's
    assert (await attacker.login()).status == 200  # with its device cookie: not mailed (pinned below)

    assert (await web.delete("/users/me/sessions")).status == 200
    assert (await attacker.get("/users/protected")).status == 401
    assert (await attacker.login()).status == 200
    third = await nth_mail(smtp_server, OWNER, "New sign-in to your account", 3)
    assert "/not-me?token=" in text_of(third)
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202  # the last mail
    await smtp_server.wait_for(OWNER, "Reset your password")
    subjects = [m["Subject"] for m in smtp_server.mails_to(OWNER)]
    assert subjects.count("New sign-in to your account") == 3


async def test_the_browser_that_changed_the_password_stays_a_known_device(web: Client, smtp_server: SmtpServer) -> None:
    """The owner's own browser proved the password: its device cookie is renewed under the new generation, so its
    next login is not mailed as a new sign-in (the other browsers' cookies are void)."""
    signup = {"username": "alice", "password": PASSWORD, "email": OWNER}
    assert (await web.post("/users/signup", json=signup)).status == 201
    verify = token_in(await smtp_server.wait_for(OWNER, "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": verify})).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await web.post("/users/me/password", json=change)).status == 200
    assert (await web.post("/users/logout")).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})).status == 200
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202  # the last mail
    await smtp_server.wait_for(OWNER, "Reset your password")
    subjects = [m["Subject"] for m in smtp_server.mails_to(OWNER)]
    assert subjects.count("New sign-in to your account") == 1  # the first login's only
