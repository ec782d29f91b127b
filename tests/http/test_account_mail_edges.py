"""AccountMail's edges the mutation run found unpinned: what an address must be and whose it may be wherever it is
set, a notice token's odd stamps, the reset mail's wording and audit line, the forgot answer's time floor, and the
new-device notice's browser text cap."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container, running
from authsvc.errors import FieldRefused
from authsvc.mail.models import MailToken
from authsvc.mail.service import FORGOT_MIN_SECONDS, DuplicateEmail, NoticeEvent
from authsvc.web.app import create_app
from tests.driver import PASSWORD, code_at, confirm_totp, login, register, signup_verified, start_totp
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, nth_mail, smtp_sections, text_of, token_in
from tests.webauthn_authenticator import SoftAuthenticator

Client = TestClient[Any, Any]


@pytest.mark.parametrize(
    "stamp",
    [
        {"event": 1, "at": 5, "to": "a@example.com"},
        {"event": "new_device", "at": 5, "to": 7},
        {"event": None, "at": 5, "to": None},
    ],
)
def test_a_notice_token_whose_stamp_is_not_text_is_an_old_token(stamp: dict[str, object]) -> None:
    event = NoticeEvent.of(MailToken("h", "u", "not_me", json.dumps(stamp), 42.0, 99.0))
    assert (event.kind, event.at, event.to) == (None, 42.0, None)


async def test_an_address_is_checked_and_must_be_free_wherever_it_is_set(container: Container) -> None:
    async with running(container):
        users, mail = container.users_service(), container.account_mail()
        alice, bob = await users.signup("alice", PASSWORD), await users.signup("bob", PASSWORD)
        await mail.set_address(alice, "alice@example.com")
        for set_it in (mail.set_address, mail.invite):
            with pytest.raises(FieldRefused):
                await set_it(bob, "not an address")
            with pytest.raises(DuplicateEmail):
                await set_it(bob, "alice@Example.COM")  # the domain in any case


async def test_setting_the_verified_address_again_keeps_it_verified(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    container = make_container(**smtp_sections(smtp_server))
    web: Client = await aiohttp_client(create_app(container))
    await signup_verified(web, smtp_server)
    alice = await container.users_service().find("alice")
    assert alice is not None
    await container.account_mail().set_address(alice, "alice@example.com")
    address = await container.account_mail().address_of(alice.id)
    assert address is not None and address.verified
    assert len(smtp_server.mails_to("alice@example.com")) == 1  # no second verification link


async def test_the_reset_mail_names_its_lifetime_and_the_audit_trail_records_it(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server, reset_token_ttl=1800))))
    await signup_verified(web, smtp_server)
    caplog.set_level(logging.INFO, "authsvc.audit")
    started = time.monotonic()
    assert (await web.post("/users/password/forgot", json={"username": "nobody"})).status == 202
    assert time.monotonic() - started >= FORGOT_MIN_SECONDS  # an unknown name answers no sooner than a known one
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    reset = await smtp_server.wait_for("alice@example.com", "Reset your password")
    assert "within 30 minutes" in " ".join(text_of(reset).split())
    assert [r for r in caplog.records if getattr(r, "event", None) == "password.reset_mailed"]


async def test_the_new_device_notice_quotes_at_most_200_characters_of_the_browser(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    await signup_verified(web, smtp_server)
    web.session.cookie_jar.clear()  # a browser without the device cookie
    agent = "A" * 199 + "BC" + "D" * 100
    login = {"username": "alice", "password": PASSWORD}
    assert (await web.post("/users/login", json=login, headers={"User-Agent": agent})).status == 200
    notice = text_of(await smtp_server.wait_for("alice@example.com", "New sign-in to your account"))
    # The 200 characters end at B; "BC" alone could be in the mail's random link token, so look for it after the As.
    assert "A" * 199 + "B" in notice and "A" * 199 + "BC" not in notice


async def test_the_address_of_an_account_gone_without_its_address_is_free_again(container: Container) -> None:
    async with running(container):
        users, mail = container.users_service(), container.account_mail()
        alice, bob, carol = [await users.signup(name, PASSWORD) for name in ("alice", "bob", "carol")]
        await mail.set_address(alice, "alice@example.com")
        await mail.set_address(bob, "bob@example.com")
        # A replica deleted the accounts and stopped before it removed their addresses.
        assert await container.storage().users.delete(alice.id) and await container.storage().users.delete(bob.id)
        await mail.set_address(carol, "alice@example.com")
        address = await mail.address_of(carol.id)
        assert address is not None and address.address == "alice@example.com"
        await mail.invite(carol, "bob@example.com")
        invited = await mail.address_of(carol.id)
        assert invited is not None and invited.address == "bob@example.com"


async def test_not_me_on_a_removal_notice_keeps_the_factors_added_before_it(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    await signup_verified(web, smtp_server)
    assert (await login(web)).status == 200
    secret, enrolment = await start_totp(web)
    assert (await confirm_totp(web, enrolment, code_at(secret, clock))).status == 200
    clock.advance(60)
    registered = await register(web, SoftAuthenticator(), proof={"password": PASSWORD, "code": code_at(secret, clock)})
    assert registered.status == 201, await registered.text()
    clock.advance(60)
    path = f"/users/me/webauthn/{(await registered.json())['id']}"
    removed = await web.delete(path, json={"password": PASSWORD, "code": code_at(secret, clock)})
    assert removed.status == 200, await removed.text()
    notice = await nth_mail(smtp_server, "alice@example.com", "Your two-factor settings were changed", 3)
    assert "removed" in text_of(notice)
    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200
    # The removal is what the owner disowns: the app enrolled before it stays (nothing was added since).
    web.session.cookie_jar.clear()
    assert (await (await login(web)).json())["mfa"] == {"methods": ["totp"]}


async def test_not_me_on_an_enrolment_notice_removes_the_app_and_the_audit_line_counts_it(
    make_container: Any,
    aiohttp_client: Any,
    smtp_server: SmtpServer,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    web: Client = await aiohttp_client(create_app(make_container(**smtp_sections(smtp_server))))
    await signup_verified(web, smtp_server)
    assert (await login(web)).status == 200
    secret, enrolment = await start_totp(web)
    assert (await confirm_totp(web, enrolment, code_at(secret, clock))).status == 200
    notice = await smtp_server.wait_for("alice@example.com", "Your two-factor settings were changed")
    caplog.set_level(logging.INFO, "authsvc.audit")
    assert (await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})).status == 200
    [recovered] = [r for r in caplog.records if getattr(r, "event", None) == "session.not_me"]
    assert getattr(recovered, "factors_removed", None) == 1
    web.session.cookie_jar.clear()
    assert (await (await login(web)).json())["msg"] == "User logged in"  # no second factor any more
