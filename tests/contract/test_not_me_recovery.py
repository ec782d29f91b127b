"""\"This was not me\" recovers the account (issue 30, item 2), over HTTP on every backend, with every mail through
a real SMTP server (aiosmtpd): the attacker's sessions, pending logins and device cookies end, the second factors
added since the event are removed, an address change is undone, and the reset link goes only to an address that
was verified before the event. What the owner sees and what the attacker sees, each pinned."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.login.outcomes import NO_PENDING_LOGIN
from authsvc.mail.models import NOT_ME, MailToken
from authsvc.mail.service import hash_token
from tests.contract.test_revocation_generation import NEW_PASSWORD, OWNER, Browser, mail_container, web
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, nth_mail, text_of, token_in
from tests.webauthn_authenticator import SoftAuthenticator

__all__ = ["mail_container", "web"]  # the fixtures, shared
MALLORY = "mallory@evil.example"
Client = TestClient[Any, Any]


@pytest.fixture
async def browsers(web: Client) -> AsyncIterator[list[Browser]]:
    made: list[Browser] = []
    yield made
    for browser in made:
        await browser.session.close()


def browser(web: Client, browsers: list[Browser]) -> Browser:
    made = Browser(web)
    browsers.append(made)
    return made


async def owner_signed_up(web: Client, smtp: SmtpServer) -> None:
    """alice, with her verified address, logged in on `web` (the owner's browser)."""
    body = {"username": "alice", "password": PASSWORD, "email": OWNER}
    assert (await web.post("/users/signup", json=body)).status == 201
    token = token_in(await smtp.wait_for(OWNER, "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": token})).status == 200
    assert (await web.post("/users/login", json={"username": "alice", "password": PASSWORD})).status == 200


async def passwordless(who: Browser, authenticator: SoftAuthenticator) -> int:
    options = await (await who.post("/users/login/webauthn/options")).json()
    return (await who.post("/users/login/webauthn", json={"credential": authenticator.get(options)})).status


async def mails_to(smtp: SmtpServer, web: Client, to: str, subject: str) -> int:
    """How many such mails reached `to`, once every mail queued before this call was delivered."""
    sentinel = f"sentinel{len(smtp.messages)}"
    body = {"username": sentinel, "password": PASSWORD, "email": f"{sentinel}@example.org"}
    assert (await web.post("/users/signup", json=body)).status == 201  # the sender delivers in order
    await smtp.wait_for(f"{sentinel}@example.org", "Confirm your email address")
    return sum(1 for m in smtp.mails_to(to) if m["Subject"] == subject)


async def test_not_me_on_an_address_change_notice_takes_the_account_back_from_the_attacker(
    web: Client, smtp_server: SmtpServer, clock: ManualClock, browsers: list[Browser]
) -> None:
    await owner_signed_up(web, smtp_server)
    clock.advance(60)
    # The attacker, with the password: their own browser, then the address, a TOTP app and a passkey of theirs.
    attacker = browser(web, browsers)
    assert (await attacker.login()).status == 200
    changed = await attacker.post("/users/me/email", json={"email": MALLORY, "password": PASSWORD})
    assert changed.status == 202
    verify = token_in(await smtp_server.wait_for(MALLORY, "Confirm your email address"), "verify-email")
    assert (await attacker.post("/users/email/verify", json={"token": verify})).status == 200
    enrolment = await (await attacker.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    secret = enrolment["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert (
        await attacker.post(
            "/users/me/mfa/totp/confirm", json={"enrolmentToken": enrolment["enrolmentToken"], "code": code}
        )
    ).status == 200
    authenticator = SoftAuthenticator()
    options = await (await attacker.post("/users/me/webauthn/register/options", json={"password": PASSWORD})).json()
    body = {"name": "mine now", "credential": authenticator.create(options)}
    assert (await attacker.post("/users/me/webauthn/register", json=body)).status == 201
    second = browser(web, browsers)  # a login of theirs waiting for its second factor
    assert (await (await second.login()).json())["msg"] == "Second factor required"
    assert (await web.get("/users/protected")).status == 401  # the owner was logged out by the enrolment

    # The owner: the notice reached the address the account had, and its link is clicked.
    notice = await smtp_server.wait_for(OWNER, "Your email address was changed")
    assert MALLORY in text_of(notice)
    recovered = await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})
    assert recovered.status == 200

    # The attacker: no session, no pending login, no passkey login; no reset link reached them.
    assert (await attacker.get("/users/protected")).status == 401
    clock.advance(30)
    late = await second.post("/users/login/mfa", json={"code": pyotp.TOTP(secret).at(clock.now())})
    assert late.status == 401 and (await late.json())["detail"] == NO_PENDING_LOGIN
    assert await passwordless(browser(web, browsers), authenticator) == 401
    # The owner: the reset link at the old address, the password chosen anew, no factor of the attacker's asked.
    reset = token_in(await smtp_server.wait_for(OWNER, "Reset your password"), "reset")
    assert (await web.post("/users/password/reset", json={"token": reset, "newPassword": NEW_PASSWORD})).status == 200
    signed_in = await web.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert (await signed_in.json())["msg"] == "User logged in"
    assert (await (await web.get("/users/me/mfa")).json())["methods"] == []
    assert (await attacker.login()).status == 401  # the password they knew is gone
    # The address is the owner's again: the next reset link goes there, none ever went to the attacker's.
    assert (await web.post("/users/password/forgot", json={"email": OWNER})).status == 202
    assert (await web.post("/users/password/forgot", json={"email": MALLORY})).status == 202
    assert await mails_to(smtp_server, web, OWNER, "Reset your password") == 2
    assert await mails_to(smtp_server, web, MALLORY, "Reset your password") == 0


async def test_not_me_removes_the_factors_added_since_the_event_and_keeps_the_older_ones(
    web: Client, smtp_server: SmtpServer, clock: ManualClock, browsers: list[Browser]
) -> None:
    await owner_signed_up(web, smtp_server)
    enrolment = await (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    secret = enrolment["secret"]
    code = pyotp.TOTP(secret).at(clock.now())
    assert (
        await web.post("/users/me/mfa/totp/confirm", json={"enrolmentToken": enrolment["enrolmentToken"], "code": code})
    ).status == 200  # the owner's own
    clock.advance(60)
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await web.post("/users/me/password", json=change)).status == 200  # the event: not the owner's doing
    clock.advance(60)
    authenticator = SoftAuthenticator()  # then, through the same stolen session, a passkey
    proof = {"password": NEW_PASSWORD, "code": pyotp.TOTP(secret).at(clock.now())}
    options = await (await web.post("/users/me/webauthn/register/options", json=proof)).json()
    body = {"name": "not mine", "credential": authenticator.create(options)}
    assert (await web.post("/users/me/webauthn/register", json=body)).status == 201

    notice = await smtp_server.wait_for(OWNER, "Your password was changed")
    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200

    owner = browser(web, browsers)
    first = await owner.login(NEW_PASSWORD)
    assert (await first.json())["mfa"] == {"methods": ["totp"]}  # the passkey went, the older TOTP app stayed
    assert await passwordless(browser(web, browsers), authenticator) == 401
    await smtp_server.wait_for(OWNER, "Reset your password")  # the address the notice went to: verified before


async def test_not_me_on_a_factor_added_notice_removes_that_factor(
    web: Client, smtp_server: SmtpServer, browsers: list[Browser]
) -> None:
    await owner_signed_up(web, smtp_server)
    authenticator = SoftAuthenticator()
    options = await (await web.post("/users/me/webauthn/register/options", json={"password": PASSWORD})).json()
    body = {"name": "not mine", "credential": authenticator.create(options)}
    assert (await web.post("/users/me/webauthn/register", json=body)).status == 201
    notice = await smtp_server.wait_for(OWNER, "Your two-factor settings were changed")
    assert "a passkey was added" in text_of(notice)

    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200

    owner = browser(web, browsers)
    assert (await (await owner.login()).json())["msg"] == "User logged in"  # no passkey left to ask for
    assert await passwordless(browser(web, browsers), authenticator) == 401


async def test_a_reset_link_never_goes_to_an_address_verified_after_the_event(
    web: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await owner_signed_up(web, smtp_server)
    change = {"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}
    assert (await web.post("/users/me/password", json=change)).status == 200
    notice = await smtp_server.wait_for(OWNER, "Your password was changed")
    clock.advance(60)
    # Then the address changes and is verified (whoever did it, the address-change notice went to alice@).
    assert (await web.post("/users/me/email", json={"email": MALLORY, "password": NEW_PASSWORD})).status == 202
    verify = token_in(await smtp_server.wait_for(MALLORY, "Confirm your email address"), "verify-email")
    assert (await web.post("/users/email/verify", json={"token": verify})).status == 200

    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200

    assert (await web.get("/users/protected")).status == 401  # every session ended all the same
    assert await mails_to(smtp_server, web, MALLORY, "Reset your password") == 0
    assert await mails_to(smtp_server, web, OWNER, "Reset your password") == 0  # no longer the account's address
    address_notice = await nth_mail(smtp_server, OWNER, "Your email address was changed", 1)
    assert "/not-me?token=" in text_of(address_notice)  # the way back: that notice's link


async def test_a_notice_mailed_before_events_were_recorded_ends_everything_but_sends_no_reset_link(
    web: Client, mail_container: Container, smtp_server: SmtpServer, clock: ManualClock, browsers: list[Browser]
) -> None:
    """Such a token (stamp "") does not say where its notice went: no reset link, rather than one to an address
    that may be the attacker's; the factors added since it was mailed go, the sessions and pending logins end."""
    await owner_signed_up(web, smtp_server)
    user_id = (await (await web.get("/users/protected")).json())["userId"]
    token, now = "an-old-notice-token", clock.now()
    ttl = mail_container.settings().mail.not_me_token_ttl
    await mail_container.storage().mail_tokens.add(MailToken(hash_token(token), user_id, NOT_ME, "", now, now + ttl))
    clock.advance(60)
    authenticator = SoftAuthenticator()
    options = await (await web.post("/users/me/webauthn/register/options", json={"password": PASSWORD})).json()
    body = {"name": "added since", "credential": authenticator.create(options)}
    assert (await web.post("/users/me/webauthn/register", json=body)).status == 201

    assert (await web.post("/users/sessions/not-me", json={"token": token})).status == 200

    assert (await web.get("/users/protected")).status == 401
    assert await passwordless(browser(web, browsers), authenticator) == 401
    assert await mails_to(smtp_server, web, OWNER, "Reset your password") == 0
