"""Email verification, password reset, notifications and "this was not me", end to end over HTTP against a real
SMTP server (aiosmtpd on 127.0.0.1), on every backend: memory, mongodb+pymongo."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestClient

from authsvc.containers import Container
from authsvc.web.app import create_app
from tests.driver import PASSWORD
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, smtp_sections, text_of, token_in

NEW_PASSWORD = "a brand new staple"
Client = TestClient[Any, Any]


@pytest.fixture
def mail_container(make_container: Callable[..., Container], smtp_server: SmtpServer) -> Container:
    return make_container(**smtp_sections(smtp_server))


@pytest.fixture
async def web(aiohttp_client: Any, mail_container: Container) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(mail_container))


async def signup(web: Client, username: str, email: str | None = None) -> dict[str, Any]:
    body = {"username": username, "password": PASSWORD} | ({"email": email} if email else {})
    response = await web.post("/users/signup", json=body)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def verified_user(web: Client, smtp: SmtpServer, username: str, email: str) -> None:
    await signup(web, username, email)
    mail = await smtp.wait_for(email, "Confirm your email address")
    response = await web.post("/users/email/verify", json={"token": token_in(mail, "verify-email")})
    assert response.status == 200, await response.text()


async def login(web: Client, username: str, password: str) -> int:
    response = await web.post("/users/login", json={"username": username, "password": password})
    return response.status


async def test_signup_with_email_keeps_the_tutorial_body_and_mails_a_verification_link(
    web: Client, smtp_server: SmtpServer
) -> None:
    body = await signup(web, "alice", "alice@example.com")
    assert set(body) == {"msg", "userId", "userName"} and body["msg"] == "User successfully registered"
    mail = await smtp_server.wait_for("alice@example.com", "Confirm your email address")
    assert mail["From"] == "authsvc <no-reply@example.com>"
    assert "https://auth.example.com/verify-email?token=" in text_of(mail)
    token = token_in(mail, "verify-email")

    assert (await web.post("/users/email/verify", json={"token": token})).status == 200
    reused = await web.post("/users/email/verify", json={"token": token})
    assert reused.status == 422 and reused.content_type == "application/problem+json"


async def test_addresses_are_unique_whatever_the_case_of_the_domain(web: Client, smtp_server: SmtpServer) -> None:
    await signup(web, "alice", "alice@example.com")
    body = {"username": "bob", "password": PASSWORD, "email": "alice@EXAMPLE.com"}
    taken = await web.post("/users/signup", json=body)
    assert taken.status == 409
    assert (await web.post("/users/login", json={"username": "bob", "password": PASSWORD})).status == 401  # not made
    await signup(web, "carol", "Alice@example.com")  # the local part is the mail server's: another address


async def test_a_malformed_address_is_refused_with_422(web: Client) -> None:
    response = await web.post("/users/signup", json={"username": "alice", "password": PASSWORD, "email": "a\r\nb@x"})
    assert response.status == 422
    assert "email" in (await response.json())["errors"][0]["pointer"] or "email" in await response.text()


async def test_reset_flow_ends_sessions_and_the_old_password_and_is_single_use(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    old_cookies = web.session.cookie_jar.filter_cookies(web.make_url("/"))
    assert (await web.get("/users/protected")).status == 200

    forgot = await web.post("/users/password/forgot", json={"username": "alice"})
    assert forgot.status == 202
    mail = await smtp_server.wait_for("alice@example.com", "Reset your password")
    token = token_in(mail, "reset")

    weak = await web.post("/users/password/reset", json={"token": token, "newPassword": "password"})
    assert weak.status == 422 and "newPassword" in await weak.text()  # the policy applies; the link still works
    reset = await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})
    assert reset.status == 200, await reset.text()

    web.session.cookie_jar.update_cookies(old_cookies)
    assert (await web.get("/users/protected")).status == 401  # the old session ended
    assert await login(web, "alice", PASSWORD) == 401
    assert await login(web, "alice", NEW_PASSWORD) == 200
    reused = await web.post("/users/password/reset", json={"token": token, "newPassword": "yet another staple"})
    assert reused.status == 422
    notice = await smtp_server.wait_for("alice@example.com", "Your password was changed")
    assert "reset" in text_of(notice) and "/not-me?token=" in text_of(notice)


async def test_forgot_answers_alike_for_unknown_users_users_without_address_and_real_ones(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    await signup(web, "bob")
    answers = []
    for body in (
        {"username": "nobody"},
        {"username": "bob"},
        {"username": "alice"},
        {"email": "x@example.org"},
        {"username": "alice"},  # limited: the account was mailed a moment ago
    ):
        started = time.monotonic()
        response = await web.post("/users/password/forgot", json=body)
        answers.append((response.status, await response.read(), time.monotonic() - started))
    assert {(status, body) for status, body, _ in answers} == {answers[0][:2]} and answers[0][0] == 202
    durations = [seconds for _, _, seconds in answers]
    assert max(durations) - min(durations) < 0.1, durations
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    assert [m["Subject"] for m in smtp_server.messages if m["Subject"] == "Reset your password"] == [
        "Reset your password"
    ]


def behind_a_proxy(smtp_server: SmtpServer) -> dict[str, Any]:
    """Config sections for a mail-sending app whose clients are told apart by X-Forwarded-For."""
    sections = smtp_sections(smtp_server)
    sections["server"] = {**sections["server"], "trusted_proxies": ["127.0.0.1/32"]}
    return sections


async def forgot_from(web: Client, ip: str, **body: str) -> tuple[int, bytes]:
    response = await web.post("/users/password/forgot", json=body, headers={"X-Forwarded-For": ip})
    return response.status, await response.read()


async def resets(smtp: SmtpServer, address: str, count: int) -> list[str]:
    """The reset tokens mailed to address, once there are `count` of them (10 s at most, for the sender)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        mails = [m for m in smtp.mails_to(address) if m["Subject"] == "Reset your password"]
        if len(mails) >= count:
            return [token_in(mail, "reset") for mail in mails]
        await asyncio.sleep(0.02)  # waiting on another thread's socket, not on a clock
    raise AssertionError(f"fewer than {count} reset mails to {address}")


async def test_40_forgot_requests_in_8_seconds_mail_one_reset_link_and_all_answer_alike(
    make_container: Callable[..., Container], aiohttp_client: Any, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    web = await aiohttp_client(create_app(make_container(**behind_a_proxy(smtp_server))))
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    await verified_user(web, smtp_server, "bob", "bob@example.com")
    answers = set()
    for second in range(8):  # five at once, from five addresses, every second
        batch = (forgot_from(web, f"198.51.100.{5 * second + n}", username="alice") for n in range(5))
        answers |= set(await asyncio.gather(*batch))
        clock.advance(1)
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    assert await forgot_from(web, "198.51.100.99", username="bob") in answers
    await smtp_server.wait_for("bob@example.com", "Reset your password")  # mailed after alice's: the sender is done
    assert len(await resets(smtp_server, "alice@example.com", 1)) == 1


async def test_a_new_reset_link_kills_the_earlier_one(web: Client, smtp_server: SmtpServer, clock: ManualClock) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    clock.advance(300)  # throttle.reset_mail_interval
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    earlier, later = await resets(smtp_server, "alice@example.com", 2)
    dead = await web.post("/users/password/reset", json={"token": earlier, "newPassword": NEW_PASSWORD})
    assert dead.status == 422 and dead.content_type == "application/problem+json"
    reset = await web.post("/users/password/reset", json={"token": later, "newPassword": NEW_PASSWORD})
    assert reset.status == 200, await reset.text()


async def test_an_account_gets_five_reset_mails_in_a_row_then_one_per_fifth_of_a_day(
    web: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    for _ in range(12):  # an hour of asking every five minutes
        assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
        clock.advance(300)
    clock.advance(86400 / 5 - 12 * 300)  # a fifth of a day after the first mail
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    await signup(web, "bob", "bob@example.com")  # a later mail, to know the sender is done
    await smtp_server.wait_for("bob@example.com", "Confirm your email address")
    assert len(await resets(smtp_server, "alice@example.com", 6)) == 6


async def test_one_client_asking_for_many_accounts_is_capped_silently(
    make_container: Callable[..., Container], aiohttp_client: Any, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    web = await aiohttp_client(create_app(make_container(**behind_a_proxy(smtp_server), throttle={"forgot_burst": 2})))
    for name in ("alice", "bob", "carol"):
        await verified_user(web, smtp_server, name, f"{name}@example.com")
    answers = {await forgot_from(web, "203.0.113.9", username=name) for name in ("alice", "bob", "carol")}
    assert len(answers) == 1  # the third is refused, and answered like the others
    clock.advance(360)  # throttle.forgot_refill_seconds: one more
    assert await forgot_from(web, "203.0.113.9", username="carol") in answers
    await resets(smtp_server, "carol@example.com", 1)
    assert [len(await resets(smtp_server, f"{name}@example.com", 1)) for name in ("alice", "bob", "carol")] == [1] * 3
    assert 'authsvc_throttled_total{rule="forgot_address"} 1.0' in await (await web.get("/metrics")).text()


async def test_forgot_by_email_finds_the_verified_address_whatever_the_domain_case(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert (await web.post("/users/password/forgot", json={"email": "alice@Example.COM"})).status == 202
    await smtp_server.wait_for("alice@example.com", "Reset your password")


async def test_forgot_takes_exactly_one_of_username_and_email(web: Client) -> None:
    both = await web.post("/users/password/forgot", json={"username": "a", "email": "a@example.com"})
    neither = await web.post("/users/password/forgot", json={})
    assert both.status == 400 and neither.status == 400


async def test_a_reset_link_dies_when_the_password_changes_another_way_and_the_change_is_notified(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    await web.post("/users/password/forgot", json={"username": "alice"})
    token = token_in(await smtp_server.wait_for("alice@example.com", "Reset your password"), "reset")
    assert await login(web, "alice", PASSWORD) == 200
    changed = await web.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert changed.status == 200
    notice = await smtp_server.wait_for("alice@example.com", "Your password was changed")
    assert "/not-me?token=" in text_of(notice)
    dead = await web.post("/users/password/reset", json={"token": token, "newPassword": "yet another staple"})
    assert dead.status == 422


async def test_a_reset_link_expires(web: Client, smtp_server: SmtpServer, clock: ManualClock) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    await web.post("/users/password/forgot", json={"username": "alice"})
    token = token_in(await smtp_server.wait_for("alice@example.com", "Reset your password"), "reset")
    clock.advance(1801)
    expired = await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})
    assert expired.status == 422


async def test_a_reset_clears_the_accounts_failed_login_counter(
    make_container: Callable[..., Container], smtp_server: SmtpServer, aiohttp_client: Any
) -> None:
    container = make_container(
        **smtp_sections(smtp_server), throttle={"account_max_failures": 3, "client_max_failures": 10}
    )
    web = await aiohttp_client(create_app(container))
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    web.session.cookie_jar.clear()  # no device cookie: the account-wide rule applies
    for _ in range(3):
        await login(web, "alice", "wrong password!")
    web.session.cookie_jar.clear()
    assert await login(web, "alice", PASSWORD) == 429
    await web.post("/users/password/forgot", json={"username": "alice"})
    token = token_in(await smtp_server.wait_for("alice@example.com", "Reset your password"), "reset")
    assert (await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})).status == 200
    assert await login(web, "alice", NEW_PASSWORD) == 200


async def test_changing_the_address_needs_the_password_and_tells_the_old_one(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    wrong = await web.post("/users/me/email", json={"email": "new@example.net", "password": "wrong password!"})
    assert wrong.status == 422
    changed = await web.post("/users/me/email", json={"email": "new@example.net", "password": PASSWORD})
    assert changed.status == 202
    await smtp_server.wait_for("new@example.net", "Confirm your email address")
    notice = await smtp_server.wait_for("alice@example.com", "Your email address was changed")
    assert "new@example.net" in text_of(notice)


async def test_v6_3_1_wrong_passwords_at_an_address_change_count_like_failed_logins(
    make_container: Callable[..., Container], aiohttp_client: Any, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    web = await aiohttp_client(
        create_app(make_container(**smtp_sections(smtp_server), throttle={"client_max_failures": 3}))
    )
    await signup(web, "alice")
    assert await login(web, "alice", PASSWORD) == 200  # the attacker holds this session's cookie, not the password
    for _ in range(3):
        wrong = await web.post("/users/me/email", json={"email": "mallory@example.net", "password": "a guess!"})
        assert wrong.status == 422
    change = {"email": "mallory@example.net", "password": PASSWORD}
    throttled = await web.post("/users/me/email", json=change)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    assert await login(web, "alice", PASSWORD) == 429  # the login throttle's own counters
    clock.advance(int(throttled.headers["Retry-After"]))
    assert (await web.post("/users/me/email", json=change)).status == 202


async def test_v7_5_1_an_old_session_of_an_enrolled_user_changes_the_address_only_with_a_code(
    web: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    started = await (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    body = {"enrolmentToken": started["enrolmentToken"], "code": code}
    assert (await web.post("/users/me/mfa/totp/confirm", json=body)).status == 200
    clock.advance(601)  # mfa.recent_auth_seconds: the session is no longer recent
    change = {"email": "new@example.net", "password": PASSWORD}
    needed = await web.post("/users/me/email", json=change)
    assert needed.status == 422
    assert (await needed.json())["errors"] == [{"pointer": "#/code", "detail": "is required"}]
    with_code = {**change, "code": pyotp.TOTP(started["secret"]).at(clock.now())}
    assert (await web.post("/users/me/email", json=with_code)).status == 202


async def test_setting_an_address_needs_a_session(web: Client) -> None:
    assert (await web.post("/users/me/email", json={"email": "a@example.com", "password": PASSWORD})).status == 401


async def test_not_me_ends_every_session_and_mails_a_reset_link(web: Client, smtp_server: SmtpServer) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    await web.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    notice = await smtp_server.wait_for("alice@example.com", "Your password was changed")
    response = await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})
    assert response.status == 200
    assert (await web.get("/users/protected")).status == 401
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    again = await web.post("/users/sessions/not-me", json={"token": token_in(notice, "not-me")})
    assert again.status == 422


async def test_require_verified_email_refuses_login_until_verified(
    make_container: Callable[..., Container], smtp_server: SmtpServer, aiohttp_client: Any
) -> None:
    container = make_container(**smtp_sections(smtp_server), users={"require_verified_email": True})
    web = await aiohttp_client(create_app(container))
    await signup(web, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 403
    assert (await web.get("/users/protected")).status == 401  # no session was left behind
    mail = await smtp_server.wait_for("alice@example.com", "Confirm your email address")
    await web.post("/users/email/verify", json={"token": token_in(mail, "verify-email")})
    assert await login(web, "alice", PASSWORD) == 200


async def test_an_smtp_outage_loses_no_mail_and_fails_no_request(
    web: Client,
    mail_container: Container,
    smtp_server: SmtpServer,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    smtp_server.stop()
    caplog.set_level(logging.INFO, logger="authsvc")
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    failed = 'authsvc_mail_delivery_failures_total{kind="reset_password"} 1.0'
    deadline = time.monotonic() + 10
    while failed not in await (await web.get("/metrics")).text():
        assert time.monotonic() < deadline, "the sender never tried"
        await asyncio.sleep(0.02)  # the sender runs in the background against a real socket
    failure = next(r for r in caplog.records if getattr(r, "event", None) == "mail.failed")
    assert failure.to == "a***@example.com"  # type: ignore[attr-defined]
    assert "alice@example.com" not in caplog.text

    smtp_server.start()
    clock.advance(10)  # mail.retry_initial
    mail_container.outbox().wake.set()
    mail = await smtp_server.wait_for("alice@example.com", "Reset your password")
    token = token_in(mail, "reset")
    assert token not in caplog.text
    assert (await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})).status == 200


async def test_a_login_without_this_users_device_cookie_is_notified_and_one_with_it_is_not(
    web: Client, smtp_server: SmtpServer
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200  # a new browser: no device cookie yet
    notice = await smtp_server.wait_for("alice@example.com", "New sign-in to your account")
    assert "127.0.0.1" in text_of(notice) and "/not-me?token=" in text_of(notice)
    assert await login(web, "alice", PASSWORD) == 200  # the device cookie of the first login comes along
    await web.post("/users/password/forgot", json={"username": "alice"})  # a later mail, to know the sender is done
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    subjects = [m["Subject"] for m in smtp_server.mails_to("alice@example.com")]
    assert subjects.count("New sign-in to your account") == 1


async def test_adding_an_authenticator_app_is_notified(
    web: Client, smtp_server: SmtpServer, clock: ManualClock
) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    started = await (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    confirmed = await web.post(
        "/users/me/mfa/totp/confirm", json={"enrolmentToken": started["enrolmentToken"], "code": code}
    )
    assert confirmed.status == 200
    notice = await smtp_server.wait_for("alice@example.com", "Your two-factor settings were changed")
    assert "authenticator app was added" in text_of(notice) and "/not-me?token=" in text_of(notice)


async def test_new_recovery_codes_are_notified(web: Client, smtp_server: SmtpServer, clock: ManualClock) -> None:
    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    started = await (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).json()
    code = pyotp.TOTP(started["secret"]).at(clock.now())
    body = {"enrolmentToken": started["enrolmentToken"], "code": code}
    assert (await web.post("/users/me/mfa/totp/confirm", json=body)).status == 200
    assert (await web.post("/users/me/mfa/recovery-codes", json={"password": PASSWORD})).status == 200
    for _ in range(500):  # the background sender: the second notice
        notices = [m for m in smtp_server.mails_to("alice@example.com") if "new recovery codes" in text_of(m)]
        if notices:
            break
        await asyncio.sleep(0.02)  # another thread's socket, not a clock
    assert notices and "/not-me?token=" in text_of(notices[0])


async def test_adding_and_removing_a_passkey_is_notified(web: Client, smtp_server: SmtpServer) -> None:
    from tests.webauthn_authenticator import SoftAuthenticator

    await verified_user(web, smtp_server, "alice", "alice@example.com")
    assert await login(web, "alice", PASSWORD) == 200
    options = await (await web.post("/users/me/webauthn/register/options", json={"password": PASSWORD})).json()
    body = {"name": "laptop", "credential": SoftAuthenticator().create(options)}
    registered = await web.post("/users/me/webauthn/register", json=body)
    assert registered.status == 201
    added = await smtp_server.wait_for("alice@example.com", "Your two-factor settings were changed")
    assert "a passkey was added" in text_of(added) and "/not-me?token=" in text_of(added)
    path = f"/users/me/webauthn/{(await registered.json())['id']}"
    assert (await web.delete(path, json={"password": PASSWORD})).status == 200
    await web.post("/users/password/forgot", json={"username": "alice"})  # a later mail, to know the sender is done
    await smtp_server.wait_for("alice@example.com", "Reset your password")
    assert any("a passkey was removed" in text_of(m) for m in smtp_server.mails_to("alice@example.com"))
