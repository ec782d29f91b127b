"""What a login answers, each a type: SignedIn or SecondFactorNeeded, else one of the refusals below.

The refusals belong to the problem+json family (errors.py), so the JSON skin answers them as it answers every Problem,
with the same bytes as before; the portal picks its page by the type (`except WrongCode`), never by a message's text.
"""

from __future__ import annotations

from dataclasses import dataclass

from authsvc.auth.mfa import NO_SECOND_FACTOR, WRONG_CODE
from authsvc.auth.passkeys import PASSKEY_REFUSED
from authsvc.errors import Conflict, Forbidden, Unauthorized
from authsvc.mail.service import UNVERIFIED
from authsvc.users.models import User

INVALID_CREDENTIALS = "Invalid username or password."
NO_PENDING_LOGIN = "No sign-in is waiting for a second factor; sign in with the password again."


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Every factor proven, every gate passed: a session is open (its id goes into the browser's cookie)."""

    user: User
    session_id: str
    factors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SecondFactorNeeded:
    """The first factor was right and the user has a second: no session yet. `pending` is the sealed token of the
    waiting login, which its second step brings back (the skins keep it in a cookie of its own), for `lifetime` s."""

    methods: list[str]
    pending: str
    lifetime: int


class LoginRefused(Unauthorized):
    """A login that did not prove who it is for: 401. Each kind is a type of its own."""

    message = "Unauthorized"

    def __init__(self) -> None:
        super().__init__(self.message)


class InvalidCredentials(LoginRefused):
    message = INVALID_CREDENTIALS


class WrongCode(LoginRefused):
    message = WRONG_CODE


class PasskeyRefused(LoginRefused):
    message = PASSKEY_REFUSED


class NoPendingLogin(LoginRefused):
    """No live waiting login: none, expired, used, revoked since the password, or out of tries."""

    message = NO_PENDING_LOGIN


class EmailNotVerified(Forbidden):
    """users.require_verified_email and the user has no verified address: refused before any session opens (and
    after every factor, so only the account's owner learns it)."""

    def __init__(self) -> None:
        super().__init__(UNVERIFIED)


class NoSecondFactor(Conflict):
    """A step-up for a user who has no second factor of that kind enrolled."""

    def __init__(self) -> None:
        super().__init__(NO_SECOND_FACTOR)
