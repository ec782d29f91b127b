"""Second factors: enrolling and removing TOTP, checking a code, and recent proof for sensitive changes (a login's
second step is the login flow's: authsvc/login/).

The rules only; no HTTP. Codes are single use on the storage side (the last used TOTP step, recovery codes removed
as they are used), so replicas sharing the store never accept one code twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from authsvc.auth.factors import (
    EnrolmentTokens,
    SecretBox,
    hash_recovery_code,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    qr_svg,
    totp_uri,
)
from authsvc.auth.models import SecondFactors
from authsvc.auth.passkeys import PasskeyService
from authsvc.auth.ports import SecondFactorRepository
from authsvc.auth.service import Authenticated, AuthService, ClientInfo
from authsvc.auth.sessions import SessionRegistry
from authsvc.clock import Clock
from authsvc.config import MfaSettings
from authsvc.errors import Conflict, FieldRefused, NotFound, WrongPassword
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User
from authsvc.users.ports import AddressBook, UserRepository

audit = logging.getLogger("authsvc.audit")

WRONG_CODE = "The code is not valid."
CODE_NEEDED = "This session is older than mfa.recent_auth_seconds: send a code from the authenticator app too."
ENROLLED = "TOTP is already enrolled; remove it before enrolling again."
NO_SECOND_FACTOR = "No second factor is enrolled; enrol one on the security page first."
NO_ENROLMENT = "No TOTP enrolment is pending; start one with POST /users/me/mfa/totp."
STALE_ENROLMENT = "This enrolment is not the one pending for this session, or it expired; start it again."


class CodeRefused(FieldRefused):
    """A wrong code in a signed-in change's proof (422, on its field); a login's wrong code is login.WrongCode (401)."""

    def __init__(self) -> None:
        super().__init__(WRONG_CODE, {"code": "is wrong"})


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str
    token: str  # the confirmation brings it back: only whoever gave the password at the start can finish


@dataclass(frozen=True, slots=True)
class MfaStatus:
    methods: list[str]
    pending: list[str]  # started, not confirmed yet
    recovery_codes_left: int


class MfaService:
    def __init__(
        self,
        auth: AuthService,
        passkeys: PasskeyService,
        factors: SecondFactorRepository,
        users: UserRepository,
        sessions: SessionRegistry,
        box: SecretBox,
        enrolments: EnrolmentTokens,
        clock: Clock,
        settings: MfaSettings,
        addresses: AddressBook,
    ) -> None:
        self._addresses = addresses
        self._auth = auth
        self._passkeys = passkeys
        self._factors = factors
        self._users = users
        self._sessions = sessions
        self._box = box
        self._enrolments = enrolments
        self._clock = clock
        self._settings = settings

    async def status(self, user_id: str) -> MfaStatus:
        factors, methods = await self._auth.second_factors(user_id)
        totp = factors is not None and factors.totp_confirmed
        return MfaStatus(
            methods=methods,
            pending=["totp"] if factors is not None and not factors.totp_confirmed else [],
            recovery_codes_left=len(factors.recovery_code_hashes) if factors is not None and totp else 0,
        )

    async def begin_totp(self, auth: Authenticated, password: str, client: ClientInfo) -> TotpEnrolment:
        """A new secret, pending until a code from it is confirmed; a pending one is replaced. The password first,
        as for removing a factor (a user who could also send a code is enrolled already: 409)."""
        factors = await self._factors.get(auth.user.id)
        if factors is not None and factors.totp_confirmed:
            raise Conflict(ENROLLED)
        await self._prove(auth, factors, password, None, client)
        secret = new_totp_secret()
        sealed = self._box.seal(secret)
        if not await self._factors.begin_totp(auth.user.id, sealed, self._clock.now()):
            raise Conflict(ENROLLED)
        audit.info("totp enrolment started", extra={"event": "mfa.totp.begin", "user_id": auth.user.id})
        return self._enrolment(auth, secret, sealed)

    def _enrolment(self, auth: Authenticated, secret: str, sealed: str) -> TotpEnrolment:
        uri = totp_uri(secret, auth.user.username, self._settings.issuer)
        token = self._enrolments.issue(auth.user.id, auth.session.id_hash, sealed)
        return TotpEnrolment(secret, uri, qr_svg(uri), token)

    async def _pending_enrolment(self, auth: Authenticated, token: str) -> SecondFactors:
        """The pending enrolment this token was handed out with, to this session; else Conflict or FieldRefused."""
        factors = await self._factors.get(auth.user.id)
        if factors is None or factors.totp_confirmed:
            raise Conflict(NO_ENROLMENT)
        if not self._enrolments.valid(token, auth.user.id, auth.session.id_hash, factors.totp_secret):
            raise FieldRefused(STALE_ENROLMENT, {"enrolmentToken": "is not this session's pending enrolment"})
        return factors

    async def pending_totp(self, auth: Authenticated, token: str) -> TotpEnrolment:
        """The enrolment this token started, shown again (a page that asks for the code once more)."""
        factors = await self._pending_enrolment(auth, token)
        return self._enrolment(auth, self._box.open(factors.totp_secret), factors.totp_secret)

    async def confirm_totp(self, auth: Authenticated, token: str, code: str) -> list[str]:
        """Confirm the pending secret with a code from it and the token its start handed out; returns the recovery
        codes (shown this once)."""
        factors = await self._pending_enrolment(auth, token)
        step = matching_step(self._box.open(factors.totp_secret), code, self._clock.now(), factors.last_used_step)
        if step is None:
            raise CodeRefused()
        codes = new_recovery_codes()
        hashes = [h for h in map(hash_recovery_code, codes) if h is not None]
        if not await self._factors.confirm_totp(auth.user.id, step, hashes, self._clock.now()):
            raise Conflict(NO_ENROLMENT)
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("totp enrolled", extra={"event": "mfa.totp.enrol", "user_id": auth.user.id})
        await self._auth.second_factor_changed(auth.user, "totp_added", factors.added_at)
        return codes

    async def remove_totp(self, auth: Authenticated, password: str, code: str | None, client: ClientInfo) -> None:
        factors = await self._factors.get(auth.user.id)
        if factors is None:
            raise NotFound("No TOTP is enrolled.")
        await self._prove(auth, factors, password, code, client)
        await self._factors.delete(auth.user.id)
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("totp removed", extra={"event": "mfa.totp.remove", "user_id": auth.user.id})
        await self._auth.second_factor_changed(auth.user, "totp_removed")

    async def regenerate_recovery_codes(
        self, auth: Authenticated, password: str, code: str | None, client: ClientInfo
    ) -> list[str]:
        """New recovery codes in place of the old ones (shown this once), after the proof a factor change takes."""
        factors = await self._factors.get(auth.user.id)
        if factors is None or not factors.totp_confirmed:
            raise NotFound("No TOTP is enrolled.")
        await self._prove(auth, factors, password, code, client)
        codes = new_recovery_codes()
        hashes = [h for h in map(hash_recovery_code, codes) if h is not None]
        if not await self._factors.replace_recovery_codes(auth.user.id, hashes):
            raise NotFound("No TOTP is enrolled.")
        audit.info("recovery codes replaced", extra={"event": "mfa.recovery.regenerate", "user_id": auth.user.id})
        await self._auth.second_factor_changed(auth.user, "recovery_codes_replaced")
        return codes

    async def remove_passkey(
        self, auth: Authenticated, credential_id: str, password: str, code: str | None, client: ClientInfo
    ) -> None:
        """The same proof as removing TOTP: the password, and a code when the session is old and TOTP enrolled."""
        if not await self._passkeys.owns(auth.user.id, credential_id):
            raise NotFound("No such passkey.")
        await self._prove(auth, await self._factors.get(auth.user.id), password, code, client)
        await self._passkeys.remove(auth, credential_id)

    async def passkey_registration_options(
        self, auth: Authenticated, password: str, code: str | None, client: ClientInfo
    ) -> dict[str, Any]:
        """The same proof as removing a factor, then the creation options; their challenge, single use and bound to
        this session, is what the registration must sign: only whoever gave the proof can finish."""
        await self.prove(auth, password, code, client)
        return await self._passkeys.registration_options(auth)

    async def change_address(
        self, auth: Authenticated, address: str, password: str, code: str | None, client: ClientInfo
    ) -> None:
        """The account's email address, which receives reset links, changed by its owner: a typo costs no password
        attempt; then the same proof as changing a factor, counted like a login; only then is the address looked up
        (a taken one answers DuplicateEmail to the owner alone, never to a holder of the cookie without the password)
        and set: the address book mails the new address its link and tells the old one."""
        self._addresses.check_address(address)
        await self.prove(auth, password, code, client)
        await self._addresses.set_address(auth.user, address)

    async def prove(self, auth: Authenticated, password: str, code: str | None, client: ClientInfo) -> None:
        """The proof that the session's user is at the keyboard, before a factor or the address changes: the
        password, and a current code when TOTP is enrolled and the session is older than mfa.recent_auth_seconds."""
        await self._prove(auth, await self._factors.get(auth.user.id), password, code, client)

    async def _prove(
        self,
        auth: Authenticated,
        factors: SecondFactors | None,
        password: str,
        code: str | None,
        client: ClientInfo,
        field: str = "password",
        detail: str = "The password is wrong.",
    ) -> None:
        # Counted like a login (a stolen cookie buys no password guesses); the count stands on any refusal, a
        # wrong or missing code included, and is given back only once the whole proof is in.
        attempt = await self._auth.reauthentication(auth, password, client)
        if attempt is None:
            raise WrongPassword(field, detail)
        try:
            await self._recent_proof(auth, factors, code)
        except FieldRefused:
            audit.info("re-authentication failed", extra={"event": "reauth.code_failure", "user_id": auth.user.id})
            raise
        except BaseException:
            await attempt.abandoned()
            raise
        await attempt.succeeded()

    async def check_recent_proof(
        self, auth: Authenticated, password: str, code: str | None, client: ClientInfo
    ) -> None:
        """Before a password change: an old session of an enrolled user proves itself with the password and a code."""
        factors, methods = await self._auth.second_factors(auth.user.id)
        if not methods or self._recent(auth):
            return
        await self._prove(auth, factors, password, code, client, "currentPassword", "The current password is wrong.")

    def _recent(self, auth: Authenticated) -> bool:
        return self._clock.now() - auth.session.created_at <= self._settings.recent_auth_seconds

    async def _recent_proof(self, auth: Authenticated, factors: SecondFactors | None, code: str | None) -> None:
        # A passkey-only account proves itself with the password (a passkey re-check would need a ceremony here).
        if self._recent(auth) or factors is None or not factors.totp_confirmed:
            return
        if code is None:
            raise FieldRefused(CODE_NEEDED, {"code": "is required"})
        if not await self.use_code(factors, code):
            raise CodeRefused()

    async def use_code(self, factors: SecondFactors, code: str) -> bool:
        """A TOTP code of a step not used yet, or an unused recovery code; either is spent by this call."""
        if looks_like_totp(code):
            secret = self._box.open(factors.totp_secret)
            step = matching_step(secret, code, self._clock.now(), factors.last_used_step)
            return step is not None and await self._factors.use_totp_step(factors.user_id, step)
        code_hash = hash_recovery_code(code)
        if code_hash is None or not await self._factors.use_recovery_code(factors.user_id, code_hash):
            return False
        audit.info("recovery code used", extra={"event": "mfa.recovery.use", "user_id": factors.user_id})
        return True

    async def reset(self, username: str) -> tuple[User, bool] | None:
        """An administrator's escape hatch (`authsvc mfa-reset`): every factor of the user removed, every session and
        pending login ended, the owner told; the user, and whether there was a factor to remove (None: no such user)."""
        user = await find_by_typed_name(self._users, username)
        if user is None:
            return None
        removed = await self._factors.delete(user.id)
        removed = await self._passkeys.remove_all(user.id) > 0 or removed
        await self._sessions.revoke_user(user.id)
        audit.info("second factors reset by an administrator", extra={"event": "mfa.reset", "user_id": user.id})
        if removed:  # the owner hears of it at the verified address, as of any factor change
            await self._auth.second_factor_changed(user, "all_removed")
        return user, removed
