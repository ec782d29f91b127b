"""Second factors: enrolling and removing TOTP, the login's second step, and recent proof for sensitive changes.

The rules only; no HTTP. Codes are single use on the storage side (the last used TOTP step, recovery codes removed
as they are used), so replicas sharing the store never accept one code twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from authsvc.auth.factors import (
    PendingLogins,
    SecretBox,
    enrolled_methods,
    hash_recovery_code,
    looks_like_totp,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    qr_svg,
    totp_uri,
)
from authsvc.auth.models import SecondFactors
from authsvc.auth.ports import AttemptCounter, SecondFactorRepository
from authsvc.auth.service import Authenticated, AuthService, ClientInfo
from authsvc.auth.sessions import SessionRegistry
from authsvc.clock import Clock
from authsvc.config import MfaSettings
from authsvc.errors import Conflict, FieldRefused, NotFound, TooManyRequests, Unauthorized, WrongPassword
from authsvc.metrics import Metrics
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, normalize_username
from authsvc.users.ports import UserRepository

audit = logging.getLogger("authsvc.audit")

WRONG_CODE = "The code is not valid."
NO_PENDING_LOGIN = "No sign-in is waiting for a second factor; sign in with the password again."
CODE_NEEDED = "This session is older than mfa.recent_auth_seconds: send a code from the authenticator app too."


class WrongCode(FieldRefused):
    def __init__(self) -> None:
        super().__init__(WRONG_CODE, {"code": "is wrong"})


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


@dataclass(frozen=True, slots=True)
class MfaStatus:
    methods: list[str]
    pending: list[str]  # started, not confirmed yet
    recovery_codes_left: int


class MfaService:
    def __init__(
        self,
        auth: AuthService,
        factors: SecondFactorRepository,
        users: UserRepository,
        sessions: SessionRegistry,
        attempts: AttemptCounter,
        box: SecretBox,
        pending: PendingLogins,
        clock: Clock,
        metrics: Metrics,
        settings: MfaSettings,
    ) -> None:
        self._auth = auth
        self._factors = factors
        self._users = users
        self._sessions = sessions
        self._attempts = attempts
        self._box = box
        self._pending = pending
        self._clock = clock
        self._metrics = metrics
        self._settings = settings

    async def status(self, user_id: str) -> MfaStatus:
        factors = await self._factors.get(user_id)
        methods = enrolled_methods(factors)
        return MfaStatus(
            methods=methods,
            pending=["totp"] if factors is not None and not factors.totp_confirmed else [],
            recovery_codes_left=len(factors.recovery_code_hashes) if factors is not None and methods else 0,
        )

    async def begin_totp(self, auth: Authenticated) -> TotpEnrolment:
        """A new secret, pending until a code from it is confirmed; a pending one is replaced."""
        secret = new_totp_secret()
        if not await self._factors.begin_totp(auth.user.id, self._box.seal(secret), self._clock.now()):
            raise Conflict("TOTP is already enrolled; remove it before enrolling again.")
        uri = totp_uri(secret, auth.user.username, self._settings.issuer)
        audit.info("totp enrolment started", extra={"event": "mfa.totp.begin", "user_id": auth.user.id})
        return TotpEnrolment(secret, uri, qr_svg(uri))

    async def confirm_totp(self, auth: Authenticated, code: str) -> list[str]:
        """Confirm the pending secret with a code from it; returns the recovery codes (shown this once)."""
        factors = await self._factors.get(auth.user.id)
        if factors is None or factors.totp_confirmed:
            raise Conflict("No TOTP enrolment is pending; start one with POST /users/me/mfa/totp.")
        step = matching_step(self._box.open(factors.totp_secret), code, self._clock.now(), factors.last_used_step)
        if step is None:
            raise WrongCode()
        codes = new_recovery_codes()
        hashes = [h for h in map(hash_recovery_code, codes) if h is not None]
        if not await self._factors.confirm_totp(auth.user.id, step, hashes):
            raise Conflict("No TOTP enrolment is pending; start one with POST /users/me/mfa/totp.")
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("totp enrolled", extra={"event": "mfa.totp.enrol", "user_id": auth.user.id})
        return codes

    async def remove_totp(self, auth: Authenticated, password: str, code: str | None, client: ClientInfo) -> None:
        factors = await self._factors.get(auth.user.id)
        if factors is None:
            raise NotFound("No TOTP is enrolled.")
        if not await self._auth.reauthenticate(auth, password, client):
            raise WrongPassword("password")
        await self._recent_proof(auth, factors, code)
        await self._factors.delete(auth.user.id)
        await self._sessions.revoke_all(auth.user.id, keep_session_id=auth.session_id)
        audit.info("totp removed", extra={"event": "mfa.totp.remove", "user_id": auth.user.id})

    async def check_recent_proof(
        self, auth: Authenticated, password: str, code: str | None, client: ClientInfo
    ) -> None:
        """Before a password change: an old session of an enrolled user proves itself with the password and a code."""
        factors = await self._factors.get(auth.user.id)
        if not enrolled_methods(factors) or self._recent(auth):
            return
        if not await self._auth.reauthenticate(auth, password, client):
            raise WrongPassword("currentPassword", "The current password is wrong.")
        assert factors is not None
        await self._recent_proof(auth, factors, code)

    def _recent(self, auth: Authenticated) -> bool:
        return self._clock.now() - auth.session.created_at <= self._settings.recent_auth_seconds

    async def _recent_proof(self, auth: Authenticated, factors: SecondFactors, code: str | None) -> None:
        if self._recent(auth) or not factors.totp_confirmed:
            return
        if code is None:
            raise FieldRefused(CODE_NEEDED, {"code": "is required"})
        if not await self._use_code(factors, code):
            raise WrongCode()

    async def _use_code(self, factors: SecondFactors, code: str) -> bool:
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

    async def complete_login(
        self, pending_token: str | None, code: str, client: ClientInfo, previous_session_id: str | None = None
    ) -> tuple[User, str]:
        """The login's second step: a code for the pending login opens a new session."""
        pending = self._pending.open(pending_token)
        if pending is None:
            raise Unauthorized(NO_PENDING_LOGIN)
        now, expires_at = self._clock.now(), pending.issued_at + self._pending.lifetime
        tries, done = f"mfa:{pending.login_id}", f"mfa-done:{pending.login_id}"
        if await self._attempts.count(tries, now) >= self._settings.pending_max_attempts:
            raise Unauthorized(NO_PENDING_LOGIN)
        user = await self._users.find_by_id(pending.user_id)
        factors = await self._factors.get(pending.user_id)
        if user is None or factors is None or not enrolled_methods(factors):
            raise Unauthorized(NO_PENDING_LOGIN)
        # Counted before the check, like a password: concurrent guesses cannot overtake the count.
        try:
            attempt = await self._auth.begin_attempt(normalize_username(user.username), client, user)
        except TooManyRequests:
            self._metrics.login("throttled")
            audit.info("login throttled", extra={"event": "login.throttled", "ip": client.ip, "user_id": user.id})
            raise
        try:
            # Every try of this pending login is counted before its check too: concurrent ones cannot pass the cap.
            if await self._attempts.hit(tries, now, expires_at) > self._settings.pending_max_attempts:
                raise Unauthorized(NO_PENDING_LOGIN)  # given back below: this try checked nothing
            verified = await self._use_code(factors, code)
        except BaseException:
            await attempt.abandoned()
            raise
        if not verified:
            self._metrics.login("failure")
            audit.info("second factor failed", extra={"event": "login.mfa_failure", "user_id": user.id})
            raise Unauthorized(WRONG_CODE)
        if await self._attempts.hit(done, now, expires_at) != 1:  # the pending login is single use
            raise Unauthorized(NO_PENDING_LOGIN)
        return user, await self._auth.open_session(
            user, attempt, client, previous_session_id, remember=pending.remember
        )

    async def reset(self, username: str) -> bool | None:
        """An administrator's escape hatch: every factor of the user removed, every session ended."""
        user = await find_by_typed_name(self._users, username)
        if user is None:
            return None
        removed = await self._factors.delete(user.id)
        await self._sessions.revoke_all(user.id)
        audit.info("second factors reset by an administrator", extra={"event": "mfa.reset", "user_id": user.id})
        return removed
