"""The notices are raised by the services that make the changes (users.ports.Notices, in the same call, after the
change), so a handler has nothing to remember; a notice that fails after the change leaves the answer as it was."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from dependency_injector import providers

from authsvc.containers import Container
from authsvc.errors import StorageUnavailable
from authsvc.mail.notices import MailedNotices
from authsvc.users.models import User
from authsvc.users.ports import FactorChange, PasswordChange
from authsvc.web.app import create_app
from tests.driver import PASSWORD, code_at, enrol, login, signup, signup_verified
from tests.helpers import ManualClock
from tests.smtp import SmtpServer, smtp_sections, token_in

Client = TestClient[Any, Any]
NEW_PASSWORD = "another horse battery"


class RecordedNotices:
    """users.ports.Notices, writing down what it is told; failing=True: then every notice meets a storage outage. The
    mail flows' own parts (their links and tokens, the address and new-device notices) are the real ones."""

    def __init__(self, real: MailedNotices, failing: bool = False) -> None:
        self.told: list[tuple[str, str, str, float | None]] = []
        self.real, self.failing = real, failing

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    async def password_changed(self, user: User, how: PasswordChange) -> None:
        self._tell(user, "password_changed", how)

    async def second_factor_changed(self, user: User, change: FactorChange, added_at: float | None = None) -> None:
        self._tell(user, "second_factor_changed", change, added_at)

    def _tell(self, user: User, notice: str, what: str, at: float | None = None) -> None:
        self.told.append((user.username, notice, what, at))
        if self.failing:
            raise StorageUnavailable()


async def app_telling(
    make_container: Any, aiohttp_client: Any, failing: bool = False, **sections: Any
) -> tuple[Client, Container, RecordedNotices]:
    container = make_container(**sections)
    notices = RecordedNotices(container.notices(), failing)
    container.notices.override(providers.Object(notices))
    return await aiohttp_client(create_app(container)), container, notices


async def test_each_change_raises_its_notice_from_the_service(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    web, container, notices = await app_telling(make_container, aiohttp_client)
    started = clock.now()
    secret, _ = await enrol(web, clock)
    assert notices.told == [("alice", "second_factor_changed", "totp_added", started)]  # when the enrolment began
    regenerated = await web.post(
        "/users/me/mfa/recovery-codes", json={"password": PASSWORD, "code": code_at(secret, clock)}
    )
    assert regenerated.status == 200
    clock.advance(30)
    changed = await web.post(
        "/users/me/password",
        json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD, "code": code_at(secret, clock)},
    )
    assert changed.status == 200
    assert notices.told[1:] == [
        ("alice", "second_factor_changed", "recovery_codes_replaced", None),
        ("alice", "password_changed", "changed", None),
    ]
    reset = await container.mfa_service().reset("alice")  # `authsvc mfa-reset alice`
    assert reset is not None and reset[1] is True
    assert notices.told[3:] == [("alice", "second_factor_changed", "all_removed", None)]


async def test_a_removal_raises_its_notice_and_nothing_else_does(
    make_container: Any, aiohttp_client: Any, clock: ManualClock
) -> None:
    web, _, notices = await app_telling(make_container, aiohttp_client)
    await signup(web)
    assert (await login(web)).status == 200
    assert (await web.post("/users/me/mfa/totp", json={"password": PASSWORD})).status == 200
    assert notices.told == []  # an enrolment begun is not a change yet
    removed = await web.delete("/users/me/mfa/totp", json={"password": PASSWORD})
    assert removed.status == 200, await removed.text()
    assert notices.told == [("alice", "second_factor_changed", "totp_removed", None)]


async def test_a_notice_that_fails_after_the_change_is_skipped_and_the_change_answers(
    make_container: Any, aiohttp_client: Any, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    web, _, _ = await app_telling(make_container, aiohttp_client, failing=True)
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        secret, _ = await enrol(web, clock)  # 200 with the recovery codes: the factor is in place
        removed = await web.delete("/users/me/mfa/totp", json={"password": PASSWORD, "code": code_at(secret, clock)})
        changed = await web.post("/users/me/password", json={"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD})
    assert (removed.status, changed.status) == (200, 200)
    assert caplog.text.count("a second-factor notice skipped: the storage is unavailable") == 2
    assert "a password-change notice skipped: the storage is unavailable" in caplog.text


async def test_a_reset_tells_the_owner_and_a_notice_that_fails_leaves_it_answered(
    make_container: Any, aiohttp_client: Any, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    web, _, notices = await app_telling(make_container, aiohttp_client, failing=True, **smtp_sections(smtp_server))
    await signup_verified(web, smtp_server)
    assert (await web.post("/users/password/forgot", json={"username": "alice"})).status == 202
    token = token_in(await smtp_server.wait_for("alice@example.com", "Reset your password"), "reset")
    with caplog.at_level(logging.WARNING, logger="authsvc"):
        reset = await web.post("/users/password/reset", json={"token": token, "newPassword": NEW_PASSWORD})
    assert reset.status == 200
    assert notices.told == [("alice", "password_changed", "reset", None)]
    assert "a password-change notice skipped: the storage is unavailable" in caplog.text
    login_again = await web.post("/users/login", json={"username": "alice", "password": NEW_PASSWORD})
    assert login_again.status == 200
