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
from authsvc.errors import FieldRefused, StorageUnavailable, WrongPassword
from authsvc.throttle.rules import Attempt, Device, LoginThrottle
from authsvc.users.lookup import find_by_typed_name
from authsvc.users.models import User, normalize_username
from authsvc.users.passwords import PasswordHasher, PasswordPolicy
from authsvc.users.ports import UserRepository

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
    ) -> None:
        self._passkeys = passkeys
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
        """Verify the current password, store the new one, end every other session (and pending login, reset link,
        device cookie); returns the user as changed (its new generation: the caller's browser may be vouched for
        again, it has just proven the password)."""
        if not await self.reauthenticate(auth, current, client):
            raise WrongPassword("currentPassword", "The current password is wrong.")
        if problem := self._policy.problem(new, auth.user.username):
            raise FieldRefused("The new password breaks the password rules.", {"newPassword": f"newPassword {problem}"})
        await self._users.update_password_hash(auth.user.id, await self._hasher.hash(new), self._clock.now())
        await self._sessions.revoke_user(auth.user.id, keep_session_id=auth.session_id)
        audit.info("password changed", extra={"event": "password.change", "user_id": auth.user.id})
        try:
            return await self._users.find_by_id(auth.user.id) or auth.user
        except StorageUnavailable:  # the change landed: the answer says so; a device cookie of the old generation
            log.warning(  # issued with it is only not recognised at the next login
                "re-reading a changed user skipped: the storage is unavailable",
                extra={"event": "follow_up.skipped", "user_id": auth.user.id},
            )
            return auth.user

    async def delete_account(self, auth: Authenticated, password: str, client: ClientInfo = ClientInfo()) -> None:
        if not await self.reauthenticate(auth, password, client):
            raise WrongPassword("password")
        await self._sessions.revoke_user(auth.user.id)
        await self._factors.delete(auth.user.id)  # no secret outlives its account
        await self._passkeys.delete_for_user(auth.user.id)
        await self._users.delete(auth.user.id)
        audit.info("account deleted", extra={"event": "account.delete", "user_id": auth.user.id})
