"""Sessions and credentials: the rules, with no HTTP in sight. Logins themselves are the login flow's
(authsvc/login/)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from authsvc.auth.factors import enrolled_methods
from authsvc.auth.models import SecondFactors, SessionRecord
from authsvc.auth.ports import PasskeyRepository, SecondFactorRepository
from authsvc.auth.sessions import SessionRegistry
from authsvc.clock import Clock
from authsvc.deadline import follow_up
from authsvc.errors import FieldRefused, StorageUnavailable, WrongPassword
from authsvc.throttle.rules import Attempt, Device, LoginThrottle
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, normalize_username
from authsvc.users.passwords import PasswordHasher, PasswordPolicy
from authsvc.users.ports import FactorChange, Notices, PasswordChange, UserRepository

audit = logging.getLogger("authsvc.audit")
log = logging.getLogger("authsvc")


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: User
    session: SessionRecord
    session_id: str
    renewed: bool


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip: str | None = None
    user_agent: str | None = None
    device: Device | None = None  # what the request's device cookie vouches for


class AuthService:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        sessions: SessionRegistry,
        throttle: LoginThrottle,
        clock: Clock,
        factors: SecondFactorRepository,
        passkeys: PasskeyRepository,
        notices: Notices,
    ) -> None:
        self._passkeys = passkeys
        self._notices = notices
        self._factors = factors
        self._users = users
        self._hasher = hasher
        self._policy = policy
        self._sessions = sessions
        self._throttle = throttle
        self._clock = clock

    async def begin_attempt(self, username: str, client: ClientInfo, user: User | None) -> Attempt:
        """Count an attempt for the signed-in user's name (re-authentication); the device cookie counts only when it
        names this very user and was issued since the user's last revocation."""
        return await self._throttle.begin_for(username, client.ip, client.device, user)

    async def second_factors(self, user_id: str) -> tuple[SecondFactors | None, list[str]]:
        """The user's TOTP record (or None) and every method a login's second step can use."""
        factors = await self._factors.get(user_id)
        return factors, enrolled_methods(factors, len(await self._passkeys.list_for_user(user_id)))

    async def reauthenticate(self, auth: Authenticated, password: str, client: ClientInfo) -> bool:
        """Check the password of the logged-in user, counted like a login from this client."""
        attempt = await self.reauthentication(auth, password, client)
        if attempt is not None:
            await attempt.succeeded()
        return attempt is not None

    async def reauthentication(self, auth: Authenticated, password: str, client: ClientInfo) -> Attempt | None:
        """Check the password of the logged-in user, counted like a login from this client: the attempt, still
        counted, when the password is right (the caller settles it once the rest of its proof is in), else None."""
        attempt = await self.begin_attempt(normalize_username(auth.user.username), client, auth.user)
        try:
            verified = await self._hasher.verify(password, auth.user.password_hash)
        except BaseException:
            await attempt.abandoned()
            raise
        if not verified:
            audit.info("re-authentication failed", extra={"event": "reauth.failure", "user_id": auth.user.id})
            return None
        return attempt

    async def authenticate(self, session_id: str, user_id: str, *, touch: bool = True) -> Authenticated | None:
        """The user behind a live session, reloaded so that a deleted user is logged out."""
        resolved = await self._sessions.resolve(session_id, user_id, touch=touch)
        if resolved is None:
            return None
        user = await self._users.find_by_id(user_id)
        if user is None:
            await self._sessions.revoke(session_id)
            return None
        return Authenticated(user, resolved.record, session_id, resolved.renewed)

    async def logout(self, session_id: str) -> None:
        if await self._sessions.revoke(session_id):
            audit.info("session ended", extra={"event": "logout"})

    async def list_sessions(self, user_id: str) -> list[SessionRecord]:
        return await self._sessions.list(user_id)

    async def revoke_session(self, user_id: str, handle: str) -> bool:
        revoked = await self._sessions.revoke_by_handle(user_id, handle)
        if revoked:
            audit.info("session revoked", extra={"event": "session.revoke", "user_id": user_id})
        return revoked

    async def revoke_other_sessions(self, auth: Authenticated) -> int:
        """Every other session ends, and every pending login, reset link and device cookie of the user dies."""
        count = await self._sessions.revoke_user(auth.user.id, keep_session_id=auth.session_id)
        audit.info(
            "other sessions revoked", extra={"event": "session.revoke_all", "user_id": auth.user.id, "count": count}
        )
        return count

    async def end_sessions_of(self, username: str) -> int | None:
        """An administrator's logout-everywhere; None when there is no such user."""
        user = await find_by_typed_name(self._users, username)
        if user is None:
            return None
        count = await self._sessions.revoke_user(user.id)
        audit.info("sessions ended by an administrator", extra={"event": "session.revoke_all", "user_id": user.id})
        return count

    async def change_password(
        self, auth: Authenticated, current: str, new: str, client: ClientInfo = ClientInfo()
    ) -> User:
        """Verify the current password, then set the new one (set_password: every other session, pending login, reset
        link and device cookie ends); returns the user as changed (its new generation: the caller's browser may be
        vouched for again, it has just proven the password)."""
        if not await self.reauthenticate(auth, current, client):
            raise WrongPassword("currentPassword", "The current password is wrong.")
        await self.set_password(auth.user, new, "changed", keep_session_id=auth.session_id)
        try:
            return await self._users.find_by_id(auth.user.id) or auth.user
        except StorageUnavailable:  # the change landed: the answer says so; a device cookie of the old generation
            log.warning(  # issued with it is only not recognised at the next login
                "re-reading a changed user skipped: the storage is unavailable",
                extra={"event": "follow_up.skipped", "user_id": auth.user.id},
            )
            return auth.user

    def check_new_password(self, user: User, new: str) -> None:
        """FieldRefused when the new password breaks the password rules."""
        if problem := self._policy.problem(new, user.username):
            raise FieldRefused("The new password breaks the password rules.", {"newPassword": f"newPassword {problem}"})

    async def set_password(
        self,
        user: User,
        new: str,
        how: PasswordChange,
        *,
        keep_session_id: str | None = None,
        ip: str | None = None,
    ) -> None:
        """The one place a password is set (its owner's change, a reset with a mailed link): the rules checked, the
        hash written, then every session but keep_session_id ended with the revocation generation (every pending
        login, reset link and device cookie dies); a reset, whose link proved the mailbox, also clears the account's
        failure counts (and those of the client at ip). The owner is told last: the hash's write decides the answer,
        and the notice after it is skipped, logged, if the storage fails (docs/scaling.md)."""
        self.check_new_password(user, new)
        await self._users.update_password_hash(user.id, await self._hasher.hash(new), self._clock.now())
        await self._sessions.revoke_user(user.id, keep_session_id=keep_session_id)
        if how == "reset":
            await self._throttle.clear_account(user.username, ip)
            audit.info("password reset", extra={"event": "password.reset", "user_id": user.id})
        else:
            audit.info("password changed", extra={"event": "password.change", "user_id": user.id})
        await follow_up("a password-change notice", self._notices.password_changed(user, how), user_id=user.id)

    async def second_factor_changed(self, user: User, change: FactorChange, added_at: float | None = None) -> None:
        """The owner told of a second factor's change (MfaService, PasskeyService and the administrator's reset call
        it after the change landed): a notice that cannot be sent now is skipped and logged, never an error."""
        notice = self._notices.second_factor_changed(user, change, added_at)
        await follow_up("a second-factor notice", notice, user_id=user.id)

    async def recover(self, user_id: str, since: float) -> None:
        """ "This was not me" (a mailed notice's link): every session, pending login, reset link and device cookie
        ends, and every second factor added at or after `since` (and a TOTP enrolment not confirmed) is removed."""
        count = await self._sessions.revoke_user(user_id)
        removed = 0
        factors = await self._factors.get(user_id)
        if factors is not None and (not factors.totp_confirmed or factors.added_at >= since):
            removed += await self._factors.delete(user_id)
        for passkey in await self._passkeys.list_for_user(user_id):
            if passkey.created_at >= since:
                removed += await self._passkeys.delete(user_id, passkey.credential_id)
        audit.info(
            "account recovered from a mail",
            extra={"event": "session.not_me", "user_id": user_id, "count": count, "factors_removed": removed},
        )

    async def delete_account(self, auth: Authenticated, password: str, client: ClientInfo = ClientInfo()) -> None:
        if not await self.reauthenticate(auth, password, client):
            raise WrongPassword("password")
        await self._sessions.revoke_user(auth.user.id)
        await self._factors.delete(auth.user.id)  # no secret outlives its account
        await self._passkeys.delete_for_user(auth.user.id)
        await self._users.delete(auth.user.id)
        audit.info("account deleted", extra={"event": "account.delete", "user_id": auth.user.id})
