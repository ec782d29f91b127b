"""The ways a login proves a factor (Kratos' login strategies), each behind one small interface, Strategy.

A strategy says two things: who a proof is for (its claim, before the throttle counts the attempt) and whether the
proof holds (after the count). Everything around that is the flow's (flow.py): the count and its refusal, the login
that waits between two steps, the gates, the session and the hooks. So a new way to sign in, or a new second factor,
is one class here and one line in the container's list of strategies.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from authsvc.auth.factors import TOTP, WEBAUTHN, PendingLogin, looks_like_totp
from authsvc.auth.mfa import MfaService
from authsvc.auth.models import PASSKEY, PASSWORD, RECOVERY_CODE, TOTP_CODE, USER_VERIFICATION
from authsvc.auth.passkeys import UNKNOWN_PASSKEY, PasskeyService, subject_of_browser
from authsvc.auth.ports import PasskeyRepository, SecondFactorRepository
from authsvc.auth.service import ClientInfo
from authsvc.auth.webauthn import PASSWORDLESS, SECOND_FACTOR, credential_id_of
from authsvc.clock import Clock
from authsvc.errors import Busy
from authsvc.login.outcomes import InvalidCredentials, LoginRefused, PasskeyRefused, WrongCode
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, normalize_username
from authsvc.users.passwords import PasswordHasher
from authsvc.users.ports import UserRepository

LOGIN_NAME_CAP = 256  # characters; above anything sign-up allows (users.username_max_length <= 256)


@dataclass(frozen=True, slots=True)
class Claim:
    """Who an attempt is for, as known before it is counted."""

    name: str  # what the throttle counts it under: the normalised name, or a stand-in for no known user
    user: User | None  # None: no such user, or not looked up yet (looked_up False)
    account: str | None = None  # a first step's typed name, pseudonymised in the audit lines
    waiting: PendingLogin | None = None  # a second step: the login that waits for it
    looked_up: bool = True  # False: the user is looked up only after the count, by prove


@dataclass(frozen=True, slots=True)
class Proven:
    user: User
    factors: tuple[str, ...]  # what the proof established, as the session records it


class Strategy(Protocol):
    """One way to prove a factor. A first step (claim returns a Claim) starts a login; a second step (claim returns
    None: the waiting login's user is the claim) finishes one, or steps a signed-in session up."""

    method: str  # its name; a second step's is what SecondFactorNeeded.methods lists
    proof: type  # what it checks: the flow picks the strategy by the proof's type
    refusal: type[LoginRefused]  # the answer to a proof that does not hold

    async def claim(self, proof: Any, client: ClientInfo) -> Claim | None: ...

    async def enrolled(self, user_id: str) -> bool:
        """A second step: whether this user can use it (a first step: False)."""
        ...

    async def prove(self, proof: Any, claim: Claim) -> Proven | None: ...


@runtime_checkable
class Challenged(Protocol):
    """A second step that starts with a challenge bound to the waiting login (a passkey's options)."""

    async def enrolled(self, user_id: str) -> bool: ...

    async def challenge(self, claim: Claim) -> dict[str, Any]: ...


class FirstStep:
    async def enrolled(self, user_id: str) -> bool:
        return False


class SecondStep:
    async def claim(self, proof: Any, client: ClientInfo) -> Claim | None:
        return None


# The proofs the skins hand over


@dataclass(frozen=True, slots=True)
class PasswordProof:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class CodeProof:
    code: str  # a TOTP code or a recovery code


@dataclass(frozen=True, slots=True)
class PasskeyProof:
    credential: dict[str, Any]  # the browser's answer to the waiting login's challenge


@dataclass(frozen=True, slots=True)
class PasswordlessProof:
    credential: dict[str, Any]  # a discoverable passkey's answer
    nonce: str | None  # what binds the challenge to the browser that asked for it (its cookie); None: none asked


def _login_name(raw: str) -> str | None:
    """The name to look up, or None when it is longer than any user's name can be (then no look-up at all)."""
    if len(raw) > LOGIN_NAME_CAP:
        return None
    name = normalize_username(raw)
    return name if len(name) <= LOGIN_NAME_CAP else None


class PasswordStrategy(FirstStep):
    method, proof, refusal = PASSWORD, PasswordProof, InvalidCredentials

    def __init__(self, users: UserRepository, hasher: PasswordHasher, clock: Clock) -> None:
        self._users, self._hasher, self._clock = users, hasher, clock

    async def claim(self, proof: PasswordProof, client: ClientInfo) -> Claim:
        typed, name = proof.username, _login_name(proof.username)
        # Only a device cookie needs the user before the count (does it vouch for them?); the rest look up after.
        early = name is not None and client.device is not None
        user = await find_by_typed_name(self._users, typed) if early else None
        return Claim(typed if name is None else name, user, account=name or typed, looked_up=name is None or early)

    async def prove(self, proof: PasswordProof, claim: Claim) -> Proven | None:
        user = claim.user if claim.looked_up else await find_by_typed_name(self._users, proof.username)
        if user is None:
            await self._hasher.verify_dummy(proof.password)
            return None
        if not await self._hasher.verify(proof.password, user.password_hash):
            return None
        # The password is at hand only now: upgrade legacy and old-cost hashes (at a later login if busy now).
        with contextlib.suppress(Busy):
            if (upgraded := await self._hasher.upgrade(proof.password, user.password_hash)) is not None:
                await self._users.update_password_hash(user.id, upgraded, self._clock.now())
        return Proven(user, (PASSWORD,))


class PasswordlessStrategy(FirstStep):
    """A discoverable passkey that verified its user: both factors at once (something held and known)."""

    method, proof, refusal = "passwordless", PasswordlessProof, PasskeyRefused

    def __init__(self, passkeys: PasskeyService, repository: PasskeyRepository, users: UserRepository) -> None:
        self._passkeys, self._repository, self._users = passkeys, repository, users

    async def claim(self, proof: PasswordlessProof, client: ClientInfo) -> Claim:
        if proof.nonce is None:  # this browser asked for no challenge: nothing to check, nothing to count
            raise PasskeyRefused()
        credential_id = credential_id_of(proof.credential)
        claimed = await self._repository.find(credential_id) if credential_id else None
        user = await self._users.find_by_id(claimed.user_id) if claimed is not None else None
        return Claim(normalize_username(user.username) if user is not None else UNKNOWN_PASSKEY, user)

    async def prove(self, proof: PasswordlessProof, claim: Claim) -> Proven | None:
        if claim.user is None or proof.nonce is None:
            return None
        user, subject = claim.user, subject_of_browser(proof.nonce)
        passkey = await self._passkeys.check_assertion(proof.credential, PASSWORDLESS, subject, user.id, user)
        # A passwordless assertion always carries user verification (webauthn.py).
        return Proven(user, (PASSKEY, USER_VERIFICATION)) if passkey is not None else None

    async def browser_challenge(self, nonce: str, ip: str | None) -> dict[str, Any]:
        """Anyone may ask: each client's asks are counted, and the challenges handed out capped for the store."""
        return await self._passkeys.passwordless_options(nonce, ip)


class CodeStrategy(SecondStep):
    """A TOTP code, or a recovery code (single use on the storage side either way)."""

    method, proof, refusal = TOTP, CodeProof, WrongCode

    def __init__(self, factors: SecondFactorRepository, mfa: MfaService) -> None:
        self._factors, self._mfa = factors, mfa

    async def enrolled(self, user_id: str) -> bool:
        factors = await self._factors.get(user_id)
        return factors is not None and factors.totp_confirmed

    async def prove(self, proof: CodeProof, claim: Claim) -> Proven | None:
        assert claim.user is not None
        factors = await self._factors.get(claim.user.id)
        if factors is None or not factors.totp_confirmed or not await self._mfa.use_code(factors, proof.code):
            return None
        return Proven(claim.user, (TOTP_CODE if looks_like_totp(proof.code) else RECOVERY_CODE,))


class PasskeyStrategy(SecondStep):
    """A registered passkey's signature over a challenge bound to the waiting login."""

    method, proof, refusal = WEBAUTHN, PasskeyProof, PasskeyRefused

    def __init__(self, passkeys: PasskeyService, repository: PasskeyRepository) -> None:
        self._passkeys, self._repository = passkeys, repository

    async def enrolled(self, user_id: str) -> bool:
        return bool(await self._repository.list_for_user(user_id))

    async def challenge(self, claim: Claim) -> dict[str, Any]:
        """navigator.credentials.get options for the waiting login's user, the challenge bound to that login."""
        assert claim.user is not None and claim.waiting is not None
        return await self._passkeys.login_options(claim.user.id, SECOND_FACTOR, f"pending:{claim.waiting.login_id}")

    async def prove(self, proof: PasskeyProof, claim: Claim) -> Proven | None:
        if claim.user is None or claim.waiting is None:  # only a waiting login's challenge is bound to anything
            return None
        subject = f"pending:{claim.waiting.login_id}"
        passkey = await self._passkeys.check_assertion(proof.credential, SECOND_FACTOR, subject, claim.user.id)
        return Proven(claim.user, (PASSKEY,)) if passkey is not None else None
