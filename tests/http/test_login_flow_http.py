"""The login flow (authsvc/login/): its gate opens no session for a login it refuses, its refusals answer the bytes
the problem+json family always did, and a new second factor is one strategy in the container's list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from dependency_injector import providers

from authsvc.auth.mfa import NO_SECOND_FACTOR, WRONG_CODE
from authsvc.auth.models import PASSWORD, SessionRecord
from authsvc.auth.passkeys import PASSKEY_REFUSED
from authsvc.auth.service import ClientInfo
from authsvc.errors import Conflict, Forbidden, NotFound, Problem, Unauthorized
from authsvc.login.outcomes import (
    INVALID_CREDENTIALS,
    NO_PENDING_LOGIN,
    EmailNotVerified,
    InvalidCredentials,
    NoPendingLogin,
    NoSecondFactor,
    PasskeyRefused,
    SecondFactorNeeded,
    SignedIn,
    WrongCode,
)
from authsvc.login.strategies import Claim, CodeProof, PasswordProof, Proven, SecondStep
from authsvc.mail.models import EmailAddress, address_key
from authsvc.mail.service import UNVERIFIED
from authsvc.web.app import create_app
from tests.driver import PASSWORD as ALICES_PASSWORD
from tests.driver import Client, login, post_login, signup

CLIENT = ClientInfo(ip="192.0.2.30", user_agent="pytest")


def counting_creates(container: Any, monkeypatch: pytest.MonkeyPatch) -> list[SessionRecord]:
    """Every session record written to the storage from now on."""
    sessions, created = container.storage().sessions, []
    original = sessions.create

    async def create(record: SessionRecord) -> None:
        created.append(record)
        await original(record)

    monkeypatch.setattr(sessions, "create", create)
    return created


async def verify(container: Any, username: str) -> None:
    user = await container.users_repository().find_by_username(username)
    address = f"{username}@example.com"
    await container.storage().email_addresses.set(EmailAddress(user.id, address, address_key(address), True))


async def test_a_login_without_a_verified_address_never_creates_a_session(
    make_container: Any, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    container = make_container(users={"require_verified_email": True})
    client: Client = await aiohttp_client(create_app(container))
    await signup(client, "bob")
    await verify(container, "bob")
    assert (await login(client, "bob")).status == 200  # this browser is bob's
    signup_alice = {"username": "alice", "password": ALICES_PASSWORD, "email": "alice@example.com"}
    assert (await client.post("/users/signup", json=signup_alice)).status == 201
    created = counting_creates(container, monkeypatch)

    api = await login(client)
    page = await post_login(client)

    assert api.status == 403
    assert await api.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": UNVERIFIED,
        "instance": "/users/login",
    }
    assert page.status == 403 and "Verify your email address first" in await page.text()
    assert created == []  # refused before any session opened: none to end afterwards
    assert (await client.get("/users/protected")).status == 200  # and bob's session, which it would replace, lives
    await verify(container, "alice")
    assert (await login(client)).status == 200
    alice = await container.users_repository().find_by_username("alice")
    assert [record.user_id for record in created] == [alice.id]  # the one session of the one login let through


async def test_an_unverified_login_is_refused_before_its_session_through_the_flow_too(make_container: Any) -> None:
    container = make_container(users={"require_verified_email": True})
    await container.users_service().signup("alice", ALICES_PASSWORD)
    with pytest.raises(EmailNotVerified) as refused:
        await container.login_flow().login(PasswordProof("alice", ALICES_PASSWORD), CLIENT)
    assert isinstance(refused.value, Forbidden)
    user = await container.users_repository().find_by_username("alice")
    assert await container.storage().sessions.list_for_user(user.id, 0.0) == []


@pytest.mark.parametrize(
    ("refusal", "same_as"),
    [
        (InvalidCredentials(), Unauthorized(INVALID_CREDENTIALS)),
        (WrongCode(), Unauthorized(WRONG_CODE)),
        (PasskeyRefused(), Unauthorized(PASSKEY_REFUSED)),
        (NoPendingLogin(), Unauthorized(NO_PENDING_LOGIN)),
        (EmailNotVerified(), Forbidden(UNVERIFIED)),
        (NoSecondFactor(), Conflict(NO_SECOND_FACTOR)),
    ],
)
def test_each_refusal_is_a_type_of_its_own_with_the_problem_body_it_always_had(
    refusal: Problem, same_as: Problem
) -> None:
    assert isinstance(refusal, type(same_as))
    assert (refusal.status, refusal.body("/x"), refusal.headers) == (
        same_as.status,
        same_as.body("/x"),
        same_as.headers,
    )


# A new second factor: one strategy, one line in the container's list. The flow, its gates and hooks, the waiting
# login and its cookie stay as they are.


@dataclass(frozen=True, slots=True)
class EmailCodeProof:
    code: str


class EmailCode(SecondStep):
    """A stand-in for a mailed code: every user may use it, its challenge "mails" the code, and the code is 424242."""

    method, proof, refusal = "email", EmailCodeProof, WrongCode

    def __init__(self) -> None:
        self.mailed: list[str] = []

    async def challenge(self, claim: Claim) -> dict[str, Any]:
        assert claim.user is not None
        self.mailed.append(claim.user.username)
        return {"sent": True}

    async def enrolled(self, user_id: str) -> bool:
        return True

    async def prove(self, proof: EmailCodeProof, claim: Claim) -> Proven | None:
        assert claim.user is not None and claim.waiting is not None  # the flow hands over the waiting login
        return Proven(claim.user, ("email_code",)) if proof.code == "424242" else None


async def test_a_new_second_factor_is_one_strategy_in_the_containers_list(make_container: Any) -> None:
    container = make_container()
    email = EmailCode()
    container.login_strategies.override(providers.Object([*container.login_strategies(), email]))
    flow = container.login_flow()
    await container.users_service().signup("alice", ALICES_PASSWORD)

    waiting = await flow.login(PasswordProof("alice", ALICES_PASSWORD), CLIENT)
    assert isinstance(waiting, SecondFactorNeeded) and waiting.methods == ["email"]
    assert await flow.pending_methods(waiting.pending) == ["email"]
    assert await flow.second_step_challenge(waiting.pending, "email") == {"sent": True} and email.mailed == ["alice"]
    with pytest.raises(NotFound):  # no passkey: nothing to challenge
        await flow.second_step_challenge(waiting.pending)
    with pytest.raises(WrongCode):
        await flow.second_step(waiting.pending, EmailCodeProof("000000"), CLIENT)
    with pytest.raises(WrongCode):  # the user has no TOTP: the code strategy refuses its proof
        await flow.second_step(waiting.pending, CodeProof("123456"), CLIENT)
    signed_in = await flow.second_step(waiting.pending, EmailCodeProof("424242"), CLIENT)

    assert isinstance(signed_in, SignedIn) and signed_in.factors == (PASSWORD, "email_code")
    me = await container.auth_service().authenticate(signed_in.session_id, signed_in.user.id)
    assert me is not None and me.session.factors == (PASSWORD, "email_code") and me.session.two_factors
    with pytest.raises(NoPendingLogin):  # single use, like every waiting login
        await flow.second_step(waiting.pending, EmailCodeProof("424242"), CLIENT)
